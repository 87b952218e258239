"""`alliance audit export --format balp --out FILE`: every access, consent decision and
referral step as IHE BALP AuditEvents (FHIR R4), for a collector the regulator runs.

From the API's index (``--database-url``) or from the chain itself (``--rpc`` +
``--deployment``: the chain is indexed into a throwaway SQLite index first, with the same
indexer the API runs, so both paths export the same events). NDJSON (one AuditEvent per
line, as FHIR bulk data does) or one Bundle.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click

from sharing_api.settings import alliance_home


def _index_chain(rpc: str, deployment: Path, workdir: Path) -> str:
    from sharing_api.audit.sources import connect
    from sharing_api.index.db import IndexDB
    from sharing_api.index.indexer import Indexer

    alliance = connect(rpc, deployment)
    url = f"sqlite:///{workdir / 'index.db'}"
    db = IndexDB(url)
    try:
        Indexer(db, alliance.client.w3, alliance.deployment).sync()
    finally:
        db.close()
    return url


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["balp"]),
    default="balp",
    show_default=True,
    help="balp: FHIR R4 AuditEvents shaped by IHE BALP.",
)
@click.option(
    "--as",
    "container",
    type=click.Choice(["ndjson", "bundle"]),
    default="ndjson",
    show_default=True,
    help="One AuditEvent per line, or one Bundle.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--patient", default=None, help="Only events about this patient address (pseudonym).")
@click.option(
    "--kind",
    type=click.Choice(["access", "consent", "referral"]),
    multiple=True,
    help="Only these kinds of event (repeatable; default: all).",
)
@click.option(
    "--rpc", default="http://127.0.0.1:8545", show_default=True, help="Ledger JSON-RPC URL."
)
@click.option(
    "--deployment",
    type=click.Path(path_type=Path),
    default=None,
    help="deployment.json of the alliance (default: $ALLIANCE_HOME/deployment.json).",
)
@click.option("--database-url", default=None, help="Read the API's index DB instead of the chain.")
def export(
    fmt: str,
    container: str,
    out: Path,
    patient: str | None,
    kind: tuple[str, ...],
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
) -> None:
    """Export the audit trail as FHIR R4 AuditEvents (IHE BALP) to FILE."""
    from sharing_api.fhir_export.audit_log import (
        KINDS,
        Scope,
        audit_bundle_of,
        audit_events,
        write_ndjson,
    )
    from sharing_api.index.db import IndexDB

    if patient is not None and not (patient.startswith("0x") and len(patient) == 42):
        raise click.BadParameter("a 0x-address of 40 hex digits", param_hint="--patient")
    with tempfile.TemporaryDirectory(prefix="alliance-export-") as tmp:
        url = database_url or _index_chain(
            rpc, deployment or alliance_home() / "deployment.json", Path(tmp)
        )
        db = IndexDB(url)
        try:
            events = audit_events(db, Scope(patients=patient), kinds=kind or KINDS)
        finally:
            db.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        if container == "bundle":
            json.dump(audit_bundle_of(events, int(time.time())), f, ensure_ascii=False, indent=1)
        else:
            write_ndjson(events, f)
    partial.replace(out)  # a reader never sees half a file
    click.echo(f"{len(events)} AuditEvents -> {out}")

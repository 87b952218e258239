"""`alliance audit export --format balp --out FILE` and `alliance audit syslog --to URL`:
every access, consent decision, referral and consultation step as IHE BALP AuditEvents
(FHIR R4), to a file or to the regulator's syslog collector (RFC 5424, as IHE ATNA).

From the API's index (``--database-url``) or from the chain itself (``--rpc`` +
``--deployment``: the chain is indexed into a throwaway SQLite index first, with the same
indexer the API runs, so both paths export the same events). A file is NDJSON (one
AuditEvent per line, as FHIR bulk data) or one Bundle.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sharing_api.settings import alliance_home

KINDS = ("access", "consent", "referral", "consultation")  # audit_log.KINDS
LAST_UNIX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z, the last a FHIR instant can hold


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


def _source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--database-url", default=None, help="Read the API's index DB, not the chain."
    )(f)
    f = click.option(
        "--deployment",
        type=click.Path(path_type=Path),
        default=None,
        help="deployment.json of the alliance (default: $ALLIANCE_HOME/deployment.json).",
    )(f)
    f = click.option(
        "--rpc", default="http://127.0.0.1:8545", show_default=True, help="Ledger JSON-RPC URL."
    )(f)
    f = click.option(
        "--kind",
        type=click.Choice(KINDS),
        multiple=True,
        help="Only these kinds of event (repeatable; default: all).",
    )(f)
    f = click.option(
        "--since",
        type=click.IntRange(0, LAST_UNIX_TIME),
        default=None,
        help="Only events recorded from this Unix time on.",
    )(f)
    return click.option(
        "--patient", default=None, help="Only events about this patient address (pseudonym)."
    )(f)


def _events(
    patient: str | None,
    since: int | None,
    kind: tuple[str, ...],
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
) -> list[dict[str, Any]]:
    from sharing_api.fhir_export.audit_log import Scope, audit_events
    from sharing_api.fhir_export.common import iso
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
    if since is not None:
        events = [e for e in events if e["recorded"] >= iso(since)]
    return events


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
@_source_options
def export(fmt: str, container: str, out: Path, **source: Any) -> None:
    """Export the audit trail as FHIR R4 AuditEvents (IHE BALP) to FILE."""
    from sharing_api.fhir_export.audit_log import audit_bundle_of, write_ndjson

    events = _events(**source)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        if container == "bundle":
            json.dump(audit_bundle_of(events, int(time.time())), f, ensure_ascii=False, indent=1)
        else:
            write_ndjson(events, f)
    partial.replace(out)  # a reader never sees half a file
    click.echo(f"{len(events)} AuditEvents ({fmt}) -> {out}")


@click.command("syslog")
@click.option(
    "--to", "collector", required=True, help="udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA (or the collector's own certificate) to trust for tls://.",
)
@click.option("--hostname", default=None, help="HOSTNAME in each message (default: this host).")
@click.option("--msgid", default="IHE+FHIR", show_default=True, help="MSGID in each message.")
@_source_options
def syslog(
    collector: str, ca_file: str | None, hostname: str | None, msgid: str, **source: Any
) -> None:
    """Send the audit trail's BALP AuditEvents to a syslog collector (RFC 5424)."""
    from sharing_api.fhir_export.syslog import SyslogError, parse_collector, rfc5424, send

    try:
        parse_collector(collector)  # a bad address fails before reading anything
        host = hostname or socket.gethostname() or "-"
        messages = [rfc5424(e, hostname=host, msgid=msgid) for e in _events(**source)]
        sent = send(messages, collector, ca_file=ca_file)
    except SyslogError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"collector {collector}: {exc}") from None
    click.echo(f"{sent} AuditEvents -> {collector}")

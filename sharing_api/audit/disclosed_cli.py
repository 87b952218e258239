"""`alliance audit disclosed FILE`: the regulator checks a patient's disclosure that several
pseudonyms are theirs (``sharing_api/patient/disclosure.py``: signed by every address, to
this regulator, on this chain) and lists the records and accesses across them.

Linking pseudonyms is the one thing the chain is built to withhold, so each use is logged:
a JSON line in ``$ALLIANCE_HOME/audit/disclosures.log`` (when, who, which addresses, the
file's digest), kept with the regulator's other audit files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import click

from sharing_api.settings import alliance_home


def log_use(
    regulator: str,
    addresses: list[str],
    digest: str,
    counts: dict[str, int],
    directory: Path | None = None,
) -> Path:
    """Append one use to ``directory/disclosures.log`` (default ``$ALLIANCE_HOME/audit``)."""
    path = (directory or alliance_home() / "audit") / "disclosures.log"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    entry = {"at": int(time.time()), "regulator": regulator, "addresses": addresses}
    line = json.dumps({**entry, "sha256": digest, **counts}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line)
    return path


@click.command("disclosed")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--regulator", required=True, help="Your (the regulator's) address.")
@click.option("--rpc", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", type=click.Path(path_type=Path), default=None)
@click.option("--database-url", default=None, help="Read an index DB instead of the chain.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def disclosed(
    file: Path,
    regulator: str,
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Verify a patient's pseudonym disclosure and list its records and accesses."""
    from sharing_api.audit.cli import _read
    from sharing_api.audit.pseudonyms import of_patient
    from sharing_api.chain.genesis import Deployment
    from sharing_api.patient.disclosure import verify_disclosure

    deployment = deployment or alliance_home() / "deployment.json"
    raw = file.read_bytes()
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        raise ValueError(f"{file}: not JSON") from None
    chain_id = Deployment.load(deployment).chain_id
    addresses = verify_disclosure(doc, regulator=regulator, chain_id=chain_id)
    data = _read(rpc, deployment, database_url)
    records = of_patient(data.records, addresses)
    accesses = of_patient(data.accesses, addresses)
    counts = {"records": len(records), "accesses": len(accesses)}
    log = log_use(regulator, addresses, hashlib.sha256(raw).hexdigest(), counts)
    if as_json:
        out = {"addresses": addresses, "records": records, "accesses": accesses}
        click.echo(json.dumps(out, indent=1, default=str))
    else:
        click.echo(f"disclosure verified: {len(addresses)} pseudonyms of one patient")
        for r in records:
            click.echo(f"record {r['record_id']}\t{r['custodian']}\t{r['patient']}")
        for a in accesses:
            click.echo(f"access {a['access_id']}\trecord {a['record_id']}\t{a['reader']}")
        click.echo(f"{counts['records']} records, {counts['accesses']} accesses")
    click.echo(f"logged in {log}", err=True)

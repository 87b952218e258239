"""`alliance audit break-glass show ACCESS_ID`: the regulator reads a break-glass read's
reason and justification from the reader member's gateway (found in the on-chain directory,
TLS pinned), opens them with its audit key and checks each against the chain
(``sharing_api/audit/break_glass_texts.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from sharing_api.settings import alliance_home


def _audit_key(path: Path) -> Any:
    """The regulator's sealed X25519 audit key (kind "audit", as its console gateway keeps
    it), opened with ALLIANCE_PASSPHRASE or a prompt."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from crypto.errors import KeystoreError
    from crypto.keystore import read_key_file
    from sharing_api.api.core.keys import AUDIT_KIND

    passphrase = os.environ.get("ALLIANCE_PASSPHRASE") or str(
        click.prompt(f"Passphrase for {path}", hide_input=True, err=True)
    )
    try:
        raw = read_key_file(path, AUDIT_KIND, passphrase)
    except KeystoreError as exc:
        raise KeystoreError(f"{path}: {exc}") from None
    if len(raw) != 32:
        raise KeystoreError(f"{path}: an audit key is 32 bytes")
    return X25519PrivateKey.from_private_bytes(raw)


@click.group("break-glass")
def break_glass() -> None:
    """Break-glass reads: the reasons and justifications sealed to the regulator."""


@break_glass.command("show")
@click.argument("access_id", type=click.IntRange(min=1))
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The regulator's ledger key (0x-hex, or sealed; ALLIANCE_PASSPHRASE opens it).",
)
@click.option(
    "--audit-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The regulator's sealed audit key (its console gateway's audit_key_file).",
)
@click.option("--insecure-http", is_flag=True, help="Allow a plain-http gateway (tests).")
@click.option(
    "--rpc", default="http://127.0.0.1:8545", show_default=True, help="Ledger JSON-RPC URL."
)
@click.option("--deployment", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def show(
    access_id: int,
    key_file: Path,
    audit_key_file: Path,
    insecure_http: bool,
    rpc: str,
    deployment: Path | None,
    as_json: bool,
) -> None:
    """As the regulator: the reason and justification of break-glass access ACCESS_ID.

    Reads the access on chain, signs in at the reader member's gateway (the on-chain
    directory; TLS pinned to the registered fingerprint), fetches the texts sealed to the
    audit key, opens them and checks each against its commitment on chain. A text that is
    missing, does not open or does not match is refused (a tampering gateway): exit 1.
    """
    from sharing_api.audit.break_glass_texts import read_break_glass
    from sharing_api.audit.sources import connect
    from sharing_api.sdk.cli import _read_key

    alliance = connect(rpc, deployment or alliance_home() / "deployment.json")
    facts, opened = read_break_glass(
        alliance,
        access_id,
        _read_key(key_file),
        _audit_key(audit_key_file),
        insecure_http=insecure_http,
    )
    texts = {k: opened.get(k) for k in ("reason", "justification")}
    if as_json:
        out = {
            "access_id": facts.access_id,
            "record_id": facts.record_id,
            "reader": facts.reader,
            "review": facts.review.label,
            **{
                k: (
                    {"text": t.text, "commitment": t.commitment, "matches_chain": True}
                    if t
                    else None
                )
                for k, t in texts.items()
            },
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"access {facts.access_id}: break-glass read of record {facts.record_id} by "
        f"{facts.reader} (review: {facts.review.label})"
    )
    for kind, text in texts.items():
        click.echo(f"{kind}: {text.text if text else '(none yet)'}")
    click.echo("every text matches its commitment on chain")

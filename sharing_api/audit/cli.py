"""`alliance audit`: verify the chain and blobs, list anomalies, write a report.

The chain is read over JSON-RPC (``--rpc`` + ``--deployment``); ``verify --data-dir`` also
re-executes a node's own data directory. Heavy imports wait until a command runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sharing_api.audit.rules import Thresholds, find_anomalies
from sharing_api.settings import alliance_home

if TYPE_CHECKING:
    from sharing_api.audit.verify import ChainResult


def _chain_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--database-url",
        default=None,
        help="Read the API's index DB (SQLite or postgresql:// URL) instead of the chain.",
    )(f)
    f = click.option(
        "--deployment",
        type=click.Path(path_type=Path),
        default=None,
        help="deployment.json of the alliance (default: $ALLIANCE_HOME/deployment.json).",
    )(f)
    return click.option(
        "--rpc", default="http://127.0.0.1:8545", show_default=True, help="Ledger JSON-RPC URL."
    )(f)


def _threshold_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--justify-within",
        type=click.IntRange(min=0),
        default=Thresholds.justify_within_s,
        show_default=True,
        help="Seconds a break-glass access may stay unjustified.",
    )(f)
    f = click.option(
        "--max-per-day",
        type=click.IntRange(min=1),
        default=Thresholds.max_accesses_per_day,
        show_default=True,
        help="Accesses per reader per UTC day above which volume is unusual.",
    )(f)
    return click.option(
        "--now", type=int, default=None, help="Judge as of this Unix time (default: now)."
    )(f)


def _read(rpc: str, deployment: Path | None, database_url: str | None) -> Any:
    from sharing_api.audit.sources import connect, read_chain, read_index

    if database_url:
        return read_index(database_url)
    return read_chain(connect(rpc, deployment or alliance_home() / "deployment.json"))


@click.group()
def audit() -> None:
    """Audit the alliance: verify the chain and stored blobs, find anomalies, write reports."""


@audit.command("verify")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="A ledger node's data directory: re-execute its chain from genesis.",
)
@click.option(
    "--genesis",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="The node's genesis file: re-execute the chain fetched over --rpc from it.",
)
@_chain_options
@click.option("--blobs/--no-blobs", default=True, help="Check stored blobs (needs --rpc).")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="Check N random blobs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@click.option("--storage-config", type=click.Path(path_type=Path), default=None)
@click.option("--storage-root", default=None, help="Local store root (overrides the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_cmd(
    data_dir: Path | None,
    genesis: Path | None,
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
    blobs: bool,
    sample: int | None,
    seed: int,
    storage_config: Path | None,
    storage_root: str | None,
    as_json: bool,
) -> None:
    """Every seal, hash link and state commitment (by re-execution, of a node's data
    directory or over JSON-RPC from the genesis file), and stored blobs against their
    on-chain SHA-256. Every check runs; each problem found is one ``FAILED: ...`` line (or an
    entry of "problems" with --json) and the exit status is then 1, without a traceback."""
    from sharing_api.audit.rpc_verify import http_request, verify_rpc
    from sharing_api.audit.verify import verify_blobs, verify_chain
    from sharing_api.storage.config import load_config, open_storage

    if data_dir is None and genesis is None and not blobs:
        raise click.UsageError("nothing to verify: give --data-dir or --genesis, or keep --blobs")
    failures = _verify_failures()
    out: dict[str, Any] = {}
    problems: list[str] = []

    def failed(problem: str) -> None:
        problems.append(problem)
        if not as_json:
            click.echo(f"FAILED: {problem}")

    # (key in --json, what, where, the check)
    checks: list[tuple[str, str, str, Callable[[], ChainResult]]] = []
    if data_dir is not None:
        where = f"data directory {data_dir}"
        checks.append(("chain", "chain", where, partial(verify_chain, data_dir)))
    if genesis is not None:
        genesis_file = genesis

        def over_rpc() -> ChainResult:
            return verify_rpc(http_request(rpc), genesis_file)

        checks.append(("chain_rpc", "chain over JSON-RPC", f"{rpc}, genesis {genesis}", over_rpc))
    for key, what, where, run in checks:
        try:
            chain = run()
        except failures as exc:
            out[key] = {"error": _reason(exc)}
            failed(f"{what} ({where}): {_reason(exc)}")
            continue
        out[key] = asdict(chain)
        if not as_json:
            click.echo(
                f"{what} ok: {chain.blocks} blocks, {chain.transactions} transactions, "
                f"{chain.checkpoints} checkpoints, head {chain.head_hash}"
            )
    if blobs:
        try:
            data = _read(rpc, deployment, database_url)
            overrides = {"local_root": storage_root} if storage_root else {}
            store = open_storage(load_config(storage_config, overrides))
            try:
                result = verify_blobs(store, data.records, sample, seed)
            finally:
                store.close()
        except failures as exc:
            out["blobs"] = {"error": _reason(exc)}
            failed(f"blobs could not be checked: {_reason(exc)}")
        else:
            out["blobs"] = asdict(result)
            for f in result.failures:
                failed(f"blob of record {f['record_id']} ({f['cid']}): {f['error']}")
            if not as_json:
                verdict = "FAILED" if result.failures else "ok"
                click.echo(
                    f"blobs {verdict}: {result.ok}/{result.checked} checked "
                    f"of {result.total} records"
                    + (
                        f" ({result.erased} erased at the patient's request)"
                        if result.erased
                        else ""
                    )
                )
    if as_json:
        out["problems"] = problems
        click.echo(json.dumps(out, indent=1))
    elif problems:
        click.echo(f"verify FAILED: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
    if problems:
        raise click.exceptions.Exit(1)


def _verify_failures() -> tuple[type[BaseException], ...]:
    """What a check may raise when what it checks (or reaches) is wrong: a broken seal, link
    or commitment (``SealError``, a ValueError), undecodable data, a missing or corrupt file
    or database, an unreachable node or store. Anything else is a bug and keeps its
    traceback."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError
    from web3.exceptions import Web3Exception

    return (ValueError, OSError, sqlite3.Error, SQLAlchemyError, Web3Exception)


def _reason(exc: BaseException) -> str:
    from ledger_node.block import SealError
    from ledger_node.txcodec import TxError
    from sharing_api.storage.errors import IntegrityError

    text = str(exc).strip()
    # These say what is wrong (the block and what differs, the blob); others need their kind.
    if isinstance(exc, SealError | TxError | IntegrityError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@audit.command("anomalies")
@_chain_options
@_threshold_options
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def anomalies_cmd(
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
    justify_within: int,
    max_per_day: int,
    now: int | None,
    as_json: bool,
) -> None:
    """Access without a live basis, access after revocation, break-glass not justified in
    time, unusual access volume per reader. Exit status 0 whether or not any are found."""
    data = _read(rpc, deployment, database_url)
    found = find_anomalies(
        data.history, Thresholds(justify_within, max_per_day), now or int(time.time())
    )
    if as_json:
        click.echo(json.dumps([asdict(a) for a in found], indent=1))
        return
    for a in found:
        where = f"access {a.access_id}" if a.access_id is not None else "-"
        click.echo(f"{a.rule}\t{where}\t{a.reader}\t{a.detail}")
    click.echo(f"{len(found)} anomalies in {len(data.history.accesses)} accesses")


@audit.command("reveal")
@click.option("--access", "access_id", type=click.IntRange(min=1), required=True)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The regulator's ledger key (0x-hex, or sealed; ALLIANCE_PASSPHRASE opens it).",
)
@click.option("--insecure-http", is_flag=True, help="Allow a plain-http gateway (tests).")
@click.option(
    "--rpc", default="http://127.0.0.1:8545", show_default=True, help="Ledger JSON-RPC URL."
)
@click.option("--deployment", type=click.Path(path_type=Path), default=None)
def reveal_cmd(
    access_id: int, key_file: Path, insecure_http: bool, rpc: str, deployment: Path | None
) -> None:
    """As the regulator: who made an access. Asks the reader member's gateway (found in the
    on-chain directory), which records the reveal on chain (StaffRevealed) before answering."""
    from sharing_api.audit.sources import connect
    from sharing_api.sdk.cli import _read_key
    from sharing_api.sdk.reveal import reveal_access

    alliance = connect(rpc, deployment or alliance_home() / "deployment.json")
    out = reveal_access(alliance, access_id, _read_key(key_file), insecure_http=insecure_http)
    click.echo(
        f"access {access_id}: {out['staff_id']} ({out['role']}) of {out['member']}; "
        f"reveal recorded in tx {out['reveal_tx']}"
    )


def _day(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@audit.command("report")
@_chain_options
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output directory.")
@_threshold_options
def report_cmd(
    rpc: str,
    deployment: Path | None,
    database_url: str | None,
    start: datetime,
    end: datetime,
    out: Path,
    justify_within: int,
    max_per_day: int,
    now: int | None,
) -> None:
    """HTML report with charts, a CSV of accesses and a FHIR AuditEvent bundle for the
    accesses from --from to --to (UTC days, inclusive)."""
    from sharing_api.audit.report import in_period, summary_of, write_report

    if end < start:
        raise click.BadParameter("--to is before --from")
    lo = int(_day(start).timestamp())
    hi = int((_day(end) + timedelta(days=1)).timestamp())
    data = _read(rpc, deployment, database_url)
    at = now or int(time.time())
    every = find_anomalies(data.history, Thresholds(justify_within, max_per_day), at)
    rows, found = in_period(data, every, lo, hi)
    summary = summary_of(data, rows, found)
    period = (start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d"))
    paths = write_report(out, rows, found, period, summary, at)
    for kind, path in paths.items():
        click.echo(f"{kind}: {path}")
    click.echo(f"{len(rows)} accesses, {len(found)} anomalies")


def _register_break_glass() -> None:
    # Its own module (one job); imported here so `alliance audit --help` lists it.
    from sharing_api.audit.break_glass_cli import break_glass

    audit.add_command(break_glass)


def _register_disclosed() -> None:
    from sharing_api.audit.disclosed_cli import disclosed

    audit.add_command(disclosed)


def _register_export() -> None:
    from sharing_api.audit.export_cli import export, syslog

    audit.add_command(export)
    audit.add_command(syslog)


_register_break_glass()
_register_disclosed()
_register_export()

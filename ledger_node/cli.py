"""`alliance node`: initialise, run and verify a ledger node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from coincurve import PrivateKey

from ledger_node.block import address_of

if TYPE_CHECKING:
    from ledger_node.chain import Chain
    from ledger_node.limits import RpcLimits

KEY_FILE = "node.key"


# Shared by `node start` and `network node`: both produce blocks the same way.
block_time_option = click.option(
    "--block-time-ms", type=int, default=None, help="override the genesis block time"
)
cut_txs_option = click.option(
    "--cut-txs",
    type=click.IntRange(min=1),
    default=None,
    help="cut a block as soon as this many transactions wait [default: 500, at most the "
    "genesis maxBlockTxs]",
)


# The JSON-RPC limits (ledger_node/limits.py): each flag overrides the genesis rpcLimits.
_LIMIT_FLAGS = (
    ("call_gas_cap", "eth_call/eth_estimateGas gas cap [default: 30000000, <= block gas limit]"),
    ("max_batch", "calls per JSON-RPC batch [default: 1000]"),
    ("max_logs_range", "blocks per eth_getLogs query [default: 100000]"),
    ("max_logs", "logs per eth_getLogs answer [default: 10000]"),
    ("max_connections_per_client", "requests in flight + WebSockets per address [default: 64]"),
    ("max_subscriptions_per_client", "eth_subscribe per client address [default: 100]"),
    ("max_body_bytes", "HTTP body / WebSocket message bytes [default: 5 MiB]"),
    ("ws_queue", "messages queued for a WebSocket before it is dropped [default: 1024]"),
    ("long_call_percent", "% of the node's time one address's long calls may take [default: 10]"),
)


def rpc_limit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for name, help_ in reversed(_LIMIT_FLAGS):
        flag = "--" + name.replace("_", "-")
        fn = click.option(flag, name, type=click.IntRange(min=1), default=None, help=help_)(fn)
    return fn


def rpc_limits(chain: Chain, flags: dict[str, Any]) -> RpcLimits:
    """The node's limits: its flags over the genesis ``rpcLimits`` over the defaults."""
    from ledger_node.limits import RpcLimits

    chosen = {name: flags.pop(name, None) for name, _ in _LIMIT_FLAGS}
    return RpcLimits.resolve(chain.genesis.rpc_limits, chosen, chain.genesis.block_gas_limit)


def default_data_dir() -> Path:
    return Path(os.environ.get("ALLIANCE_HOME", Path.home() / ".alliance")) / "node"


def load_key(path: Path) -> PrivateKey:
    try:
        text = path.read_text().strip()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no node key at {path}") from exc
    try:
        return PrivateKey(bytes.fromhex(text.removeprefix("0x")))
    except ValueError as exc:
        raise ValueError(f"{path}: not a secp256k1 private key in hex") from exc


def parse_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:8545")
    return host, int(port)


@click.group("node")
def node() -> None:
    """The permissioned EVM ledger node (Ethereum JSON-RPC, sealed blocks, SQLite)."""


@node.command("init")
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path),
    required=True,
    help="genesis JSON: chainId, members, sealers, allianceRegistry, alloc, ...",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="where the chain lives (default $ALLIANCE_HOME/node)",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path),
    default=None,
    help="sealer key (hex); a new one is generated into DATA_DIR/node.key if absent",
)
def init_cmd(genesis_file: Path, data_dir: Path | None, key_file: Path | None) -> None:
    """Create a data directory with the genesis block.

    If the genesis file names no ``sealers``, this node's key becomes the only sealer.
    """
    from ledger_node.datadir import init_data_dir

    data_dir = data_dir or default_data_dir()
    doc = json.loads(genesis_file.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / KEY_FILE
    key = load_key(key_file) if key_file is not None else PrivateKey()
    if not target.exists() or key_file is not None:
        target.write_text(key.secret.hex() + "\n")
        target.chmod(0o600)
    if isinstance(doc, dict) and "sealers" not in doc:
        doc["sealers"] = ["0x" + address_of(key).hex()]
    header = init_data_dir(data_dir, json.dumps(doc))
    click.echo(
        f"initialised {data_dir}: genesis 0x{header.hash.hex()}, sealer 0x{address_of(key).hex()}"
    )


@node.command("start")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--rpc", default="127.0.0.1:8545", show_default=True, help="HOST:PORT (port 0 = any free)"
)
@block_time_option
@cut_txs_option
@click.option(
    "--synchronous",
    type=click.Choice(["full", "normal"]),
    default="full",
    show_default=True,
    help="SQLite fsync policy: full survives power loss, normal survives process crashes",
)
@rpc_limit_options
def start_cmd(
    data_dir: Path | None,
    rpc: str,
    block_time_ms: int | None,
    cut_txs: int | None,
    synchronous: str,
    **limit_flags: Any,
) -> None:
    """Run the node: JSON-RPC on POST /, Prometheus metrics on GET /metrics."""
    from ledger_node.chain import Chain
    from ledger_node.server import Node, serve

    data_dir = data_dir or default_data_dir()
    host, port = parse_hostport(rpc)
    key_path = data_dir / KEY_FILE
    key = load_key(key_path) if key_path.exists() else None
    chain = Chain(data_dir, key, synchronous.upper())
    node_ = Node(chain, block_time_ms, cut_txs, rpc_limits(chain, limit_flags))

    def ready(bound: int) -> None:
        click.echo(f"listening on http://{host}:{bound} head={chain.head.number}", err=False)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(node_, host, port, ready))


@node.command("verify")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def verify_cmd(data_dir: Path | None) -> None:
    """Re-execute the chain from genesis and check every seal, hash link and commitment."""
    from ledger_node.datadir import DB_FILE
    from ledger_node.store import Store
    from ledger_node.verify import verify_store

    data_dir = data_dir or default_data_dir()
    path = data_dir / DB_FILE
    if not path.exists():
        raise FileNotFoundError(f"no chain in {data_dir}")
    store = Store(path)
    try:
        report = verify_store(store)
    finally:
        store.close()
    click.echo(
        f"ok: {report.blocks} blocks, {report.transactions} transactions, "
        f"{report.checkpoints} checkpoints, head 0x{report.head_hash.hex()}"
    )


@node.command("backup")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the archive to write (a gzip tar: the chain snapshot and a manifest)",
)
@click.option(
    "--include-key",
    is_flag=True,
    help="also store the sealer key (the archive is then 0600); by default it stays out",
)
def backup_cmd(data_dir: Path | None, out: Path, include_key: bool) -> None:
    """Back up the chain while the node keeps running (one consistent block height)."""
    from ledger_node.backup import backup

    data_dir = data_dir or default_data_dir()
    manifest = backup(data_dir, out, include_key=include_key)
    click.echo(
        f"backed up {data_dir} at block {manifest.head_number} ({manifest.head_hash}) "
        f"to {out}: {manifest.db_bytes} bytes, sha256 {manifest.db_sha256[:16]}…"
        + (", with the sealer key" if include_key else "")
    )


@node.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the sealer key to install (else the archive's, else the one in the data dir)",
)
@click.option(
    "--force",
    is_flag=True,
    help="replace a chain already in the data dir (kept aside as chain.sqlite3.before-restore-*)",
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="check the backup against this genesis file (default: the one inside the archive)",
)
def restore_cmd(
    archive: Path,
    data_dir: Path | None,
    key_file: Path | None,
    force: bool,
    genesis_file: Path | None,
) -> None:
    """Restore a backup into a data dir (stop the node first). The archive is checked whole
    (seals from genesis, the checkpoint's state against its commitment, history against the
    headers, later blocks re-executed) before anything on disk changes; start the node after
    and it catches up from the network."""
    from ledger_node.backup import restore

    data_dir = data_dir or default_data_dir()
    genesis_text = genesis_file.read_text() if genesis_file is not None else None
    click.echo(f"checking {archive} …", err=True)
    done = restore(archive, data_dir, force=force, key_file=key_file, genesis_text=genesis_text)
    m = done.manifest
    click.echo(
        f"restored block {m.head_number} ({m.head_hash}) into {data_dir}: "
        f"{done.blocks} blocks and {done.transactions} transactions verified"
        + (f"; the previous chain is kept at {done.replaced}" if done.replaced else "")
    )

"""`alliance network`: a replicated alliance network on loopback (etcd orders the blocks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import click

from ledger_node.cli import (
    KEY_FILE,
    block_time_option,
    cut_txs_option,
    load_key,
    parse_hostport,
    rpc_limit_options,
    rpc_limits,
)
from ledger_node.clock import DEFAULT_MAX_AHEAD_S
from ledger_node.network.cli_tls import auth_enable_cmd, cert, defrag_cmd, user_cmd
from ledger_node.network.prune import PruneSettings


def default_root() -> Path:
    return Path(os.environ.get("ALLIANCE_HOME", Path.home() / ".alliance")) / "network"


root_option = click.option(
    "--dir",
    "root",
    type=click.Path(path_type=Path),
    default=None,
    help="network directory (default $ALLIANCE_HOME/network)",
)


@click.group("network")
def network() -> None:
    """Several ledger nodes ordered by an etcd (Raft) cluster, plus a regulator follower."""


@network.command("up")
@click.option("--members", type=int, default=3, show_default=True, help="sealing member nodes")
@click.option("--etcd-members", type=int, default=3, show_default=True, help="etcd cluster size")
@click.option("--regulator/--no-regulator", default=True, help="run a read-only follower")
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="genesis JSON to start from (its sealers are replaced by the nodes' keys)",
)
@root_option
def up_cmd(
    members: int, etcd_members: int, regulator: bool, genesis_file: Path | None, root: Path | None
) -> None:
    """Start the network (creating it first if the directory holds none).

    Starting an existing network again reuses its ports and data: every node comes back at
    the same head.
    """
    from ledger_node.network.status import format_status, network_status
    from ledger_node.network.supervisor import STATE_FILE, LocalNetwork

    root = root or default_root()
    if (root / STATE_FILE).exists():
        net = LocalNetwork.load(root)
        if any(n.pid for n in net.nodes):
            raise ValueError(f"the network in {root} looks running: `alliance network down` first")
    else:
        genesis = json.loads(genesis_file.read_text()) if genesis_file else None
        net = LocalNetwork.create(root, members, regulator, etcd_members, genesis)
    try:
        net.up()
    except BaseException:
        net.down()
        raise
    click.echo(format_status(network_status(net)))


@network.command("status")
@root_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status_cmd(root: Path | None, as_json: bool) -> None:
    """Members, producer, heights and lag behind the newest block in etcd."""
    from ledger_node.network.status import format_status, network_status
    from ledger_node.network.supervisor import LocalNetwork

    st = network_status(LocalNetwork.load(root or default_root()))
    click.echo(json.dumps(st, indent=2) if as_json else format_status(st))


@network.command("down")
@root_option
@click.option("--purge", is_flag=True, help="also delete the network's data directory")
def down_cmd(root: Path | None, purge: bool) -> None:
    """Stop every node and etcd member of the network."""
    from ledger_node.network.supervisor import LocalNetwork

    root = root or default_root()
    LocalNetwork.load(root).down()
    if purge:
        shutil.rmtree(root)
    click.echo(f"network in {root} stopped{' and deleted' if purge else ''}")


def node_options(fn: Any) -> Any:
    """The options of a running replicated node (``network node`` and ``network join``)."""
    options = [
        click.option("--data-dir", type=click.Path(path_type=Path), required=True),
        click.option("--id", "node_id", required=True, help="this node's name in the network"),
        click.option(
            "--etcd", "endpoints", required=True, help="etcd client URLs, comma-separated"
        ),
        click.option("--network", "name", default="local", show_default=True, help="network name"),
        click.option("--rpc", default="127.0.0.1:8545", show_default=True, help="HOST:PORT"),
        click.option("--follower", is_flag=True, help="read-only: never produce (regulator)"),
        click.option(
            "--etcd-dir",
            type=click.Path(path_type=Path, exists=True, file_okay=False),
            default=None,
            help="TLS and etcd credentials: ca.crt, tls.crt, tls.key, etcd.password (https URLs)",
        ),
        click.option(
            "--lease-ttl", type=int, default=2, show_default=True, help="producer lease (s)"
        ),
        click.option(
            "--max-clock-ahead",
            type=click.IntRange(min=1),
            default=DEFAULT_MAX_AHEAD_S,
            show_default=True,
            help="refuse blocks stamped more than this many seconds after this node's clock",
        ),
        click.option(
            "--prune-keep",
            type=click.IntRange(min=0),
            default=PruneSettings.keep,
            show_default=True,
            help="as producer: etcd blocks kept below the slowest live node (0: never prune)",
        ),
        click.option(
            "--prune-every",
            type=click.FloatRange(min=0.1),
            default=PruneSettings.every_s,
            show_default=True,
            help="as producer: seconds between pruning passes",
        ),
        click.option(
            "--compact-every",
            type=click.FloatRange(min=0.1),
            default=PruneSettings.compact_every_s,
            show_default=True,
            help="as producer: seconds between etcd compactions (after pruning)",
        ),
        click.option(
            "--defrag-every",
            type=click.FloatRange(min=0),
            default=PruneSettings.defrag_every_s,
            show_default=True,
            help="as producer: seconds between defragmenting each etcd member (0: never)",
        ),
        block_time_option,
        cut_txs_option,
        rpc_limit_options,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@network.command("node")
@node_options
def node_cmd(**opts: Any) -> None:
    """Run one replicated node (``network up`` starts these)."""
    run_node(**opts)


@network.command("join")
@click.option("--from", "peer", required=True, help="a member node's JSON-RPC URL to copy from")
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="the alliance's genesis JSON, obtained out of band: the snapshot is checked against it",
)
@node_options
def join_cmd(peer: str, genesis_file: Path, **opts: Any) -> None:
    """Start a new member's node from a peer's verified snapshot, then follow the network.

    A data directory that already holds a chain is just started (as ``network node``).
    """
    from ledger_node.datadir import DB_FILE
    from ledger_node.network.join import JoinError, join

    data_dir: Path = opts["data_dir"]
    if not (data_dir / DB_FILE).exists():
        try:
            done = join(peer, data_dir, genesis_file.read_text())
        except JoinError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"joined from {peer}: snapshot at block {done.head} verified (checkpoint "
            f"{done.checkpoint}, blocks after it re-executed) in {done.seconds:.1f} s"
        )
    run_node(**opts)


def run_node(
    data_dir: Path,
    node_id: str,
    endpoints: str,
    name: str,
    rpc: str,
    follower: bool,
    etcd_dir: Path | None,
    lease_ttl: int,
    max_clock_ahead: int,
    prune_keep: int,
    prune_every: float,
    compact_every: float,
    defrag_every: float,
    block_time_ms: int | None,
    cut_txs: int | None,
    **limit_flags: Any,
) -> None:
    from ledger_node.chain import Chain
    from ledger_node.clock import Clock
    from ledger_node.network.access import EtcdAccess
    from ledger_node.network.etcd import Etcd
    from ledger_node.network.layout import Keys
    from ledger_node.network.replica import ReplicaNode
    from ledger_node.server import serve

    level = logging.DEBUG if os.environ.get("ALLIANCE_DEBUG") else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per etcd call otherwise
    host, port = parse_hostport(rpc)
    key_path = data_dir / KEY_FILE
    key = load_key(key_path) if key_path.exists() and not follower else None
    chain = Chain(data_dir, key, clock=Clock.from_env(max_clock_ahead))
    urls = [e for e in endpoints.split(",") if e]
    if etcd_dir is None and any(u.startswith("https:") for u in urls):
        raise click.UsageError("https etcd URLs need --etcd-dir (the node's certificate)")
    etcd = Etcd(urls, access=EtcdAccess.from_dir(etcd_dir) if etcd_dir else None)
    url = f"http://{host}:{port}"
    node = ReplicaNode(
        chain,
        etcd,
        Keys(name),
        node_id,
        url,
        follower,
        lease_ttl,
        block_time_ms,
        cut_txs,
        rpc_limits(chain, limit_flags),
        PruneSettings(prune_keep, prune_every, compact_every, defrag_every),
    )

    def ready(bound: int) -> None:
        node.url = f"http://{host}:{bound}"
        click.echo(f"listening on {node.url} head={chain.head.number}")

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        await serve(node, host, port, ready)

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())


@network.command("besu-config")
@click.option("--members", type=int, default=4, show_default=True, help="QBFT validators (>= 4)")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output directory")
@click.option("--chain-id", type=int, default=None, help="default: the genesis file's, or 7171")
@click.option("--block-period", type=int, default=2, show_default=True, help="seconds")
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="this ledger's genesis JSON: its alloc, gas limit and members carry over",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="p2p/RPC host of every node")
def besu_config_cmd(
    members: int,
    out: Path,
    chain_id: int | None,
    block_period: int,
    genesis_file: Path | None,
    host: str,
) -> None:
    """Generate a Hyperledger Besu QBFT network (genesis, keys, node configs) for N members.

    The same contracts and sharing API run on it unchanged (Ethereum JSON-RPC); see
    ledger_node/network/README.md for how to start it.
    """
    from ledger_node.genesis import Genesis
    from ledger_node.network.besu import write_besu_network

    base = Genesis.from_json(genesis_file.read_text()) if genesis_file else None
    cid = chain_id if chain_id is not None else (base.chain_id if base else 7171)
    ms = write_besu_network(out, members, cid, block_period, base, host)
    click.echo(f"wrote a {len(ms)}-validator QBFT network (chain id {cid}) to {out}")
    for m in ms:
        click.echo(f"  {m.name}: validator {m.address}, rpc http://{host}:{m.rpc_port}")


network.add_command(cert)  # alliance network cert init|issue: the CA and certificates by hand
network.add_command(user_cmd)  # alliance network user: a node's etcd user and role by hand
network.add_command(auth_enable_cmd)  # alliance network auth-enable: root, then auth on
network.add_command(defrag_cmd)  # alliance network defrag: the operator's maintenance (root role)

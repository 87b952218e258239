"""Start the project's ledger node, or a local replicated network of them, as child
processes (for `alliance demo` and `alliance demo --network N`)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ledger_node.network.procs import stop_group

if TYPE_CHECKING:
    from ledger_node.network.supervisor import LocalNetwork


@contextmanager
def ledger_node(data_dir: Path, members: list[str], chain_id: int = 7171) -> Iterator[str]:
    """Initialise a chain admitting ``members`` and serve it on 127.0.0.1; yields its URL."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    genesis = data_dir.parent / "node-genesis.json"
    genesis.write_text(json.dumps({"chainId": chain_id, "members": members, "blockTimeMs": 50}))
    base = [sys.executable, "-m", "sharing_api.cli", "node"]
    init = subprocess.run(
        [*base, "init", "--genesis", str(genesis), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise OSError(f"ledger node init failed: {init.stderr.strip()[-500:]}")
    proc = subprocess.Popen(
        [*base, "start", "--data-dir", str(data_dir), "--rpc", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        url = ""
        while not url:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise OSError("the ledger node did not start")
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                if line.startswith("listening on "):
                    url = line.split()[2]
        yield url
    finally:
        stop_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def ledger_network(
    root: Path, size: int, members: list[str], chain_id: int = 7171
) -> Iterator[LocalNetwork]:
    """A local replicated network (``alliance network up``'s code): 3 etcd members, ``size``
    sealing nodes and the regulator's read-only follower, all on loopback; stopped on exit."""
    from ledger_node.network.supervisor import LocalNetwork

    genesis = {"chainId": chain_id, "members": members, "blockTimeMs": 50}
    net = LocalNetwork.create(root, size, regulator=True, etcd_size=3, genesis=genesis)
    try:
        net.up()
        yield net
    finally:
        net.down()


def entry_node(net: LocalNetwork) -> str:
    """The URL of a member node that is not producing (so transactions are seen forwarded);
    any member node would do: every one forwards to the producer through etcd."""
    from ledger_node.network.status import network_status

    deadline = time.monotonic() + 30
    while True:
        producer = network_status(net).get("producer")
        if producer is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    members = [n for n in net.nodes if not n.follower]
    others = [n for n in members if n.id != producer]
    return (others or members)[-1].url


@contextmanager
def ledger_backend(
    workdir: Path, members: list[str], network: int = 0
) -> Iterator[tuple[str, LocalNetwork | None]]:
    """One ledger node (``network`` 0) or a local network of ``network`` member nodes;
    yields the JSON-RPC URL the demo's API talks to, and the network if any."""
    if network <= 0:
        with ledger_node(workdir / "node", members) as url:
            yield url, None
    else:
        with ledger_network(workdir / "network", network, members) as net:
            yield entry_node(net), net

"""A member admitted by governance joins a running network from a peer's snapshot.

Three sealing members run under a steady stream of transactions; the AllianceRegistry (M of
N = 2 of 3) admits a fourth member; its node starts with ``alliance network join --from
<peer>``, verifies the peer's snapshot against the genesis, catches up, serves the head and
forwards the new member's own transaction. A peer serving a snapshot whose state was changed
or whose header was forged (both packed as well-formed archives with matching manifests) is
refused with a clear error, and nothing is installed or started.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from coincurve import PrivateKey
from eth_account import Account

from ledger_node.backup import backup, read_manifest, unpack_checked
from ledger_node.block import Header
from ledger_node.network.procs import free_port
from ledger_node.network.supervisor import NodeSpec
from ledger_node.store import Store
from ledger_node.txcodec import create_address
from sharing_api.chain import Alliance, ChainClient, Genesis, MemberSpec, Role, deploy_alliance
from tests.ledger_node.helpers import sign
from tests.network.test_faults import SINK, Sender
from tests.support.etcd import requires_etcd
from tests.support.ledger import DEV_CHAIN_ID
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]
MEMBERS = ["node0", "node1", "node2"]


def key_of(acct: object) -> str:
    return "0x" + bytes(acct.key).hex()  # type: ignore[attr-defined]


def test_a_member_admitted_by_governance_joins_from_a_verified_snapshot(tmp_path: Path) -> None:
    # m0 deploys the registry (m0, m1, m2; 2 of 3); ``genesis_only`` is a genesis member but
    # not a registry member, so once the registry is live it is refused.
    genesis_only, m0, m1, m2, newcomer = (Account.create() for _ in range(5))
    genesis = {
        "chainId": DEV_CHAIN_ID,
        "members": [a.address for a in (genesis_only, m0, m1, m2)],
        "allianceRegistry": "0x" + create_address(bytes.fromhex(m0.address[2:]), 0).hex(),
        "checkpointInterval": 8,
    }
    with local_network(3, regulator=False, genesis_doc=genesis, blockTimeMs=50) as net:
        wait_for("a producer", net.producer, 15)
        client = ChainClient(net.url("node1"), key_of(m0))
        specs = tuple(
            MemberSpec(a.address, f"Hospital {i}", Role.HOSPITAL)
            for i, a in enumerate((m0, m1, m2))
        )
        deployment, _ = deploy_alliance(client, Genesis(members=specs, threshold=2))
        base = Alliance(client, deployment)
        sender = Sender(net, key_of(m2), MEMBERS)
        sender.start()
        try:
            wait_for("some traffic", lambda: len(sender.acked) > 20, 30)
            # Governance: one member proposes, a second approves (2 of 3), then it is a member.
            proposed = base.as_account(key_of(m0)).registry.propose_add_member(
                newcomer.address, Role.CLINIC, "Township clinic"
            )
            assert not proposed.executed
            assert not base.registry.is_member(newcomer.address)
            approved = base.as_account(key_of(m1)).registry.approve(proposed.proposal_id)
            assert approved.executed and base.registry.is_member(newcomer.address)
            refused_at_the_door = sign(key_of(genesis_only), 0, SINK, b"", gas=21_000)
            with pytest.raises(RuntimeError, match="not an alliance member"):
                net.send("node0", refused_at_the_door)  # the registry decides now

            wait_for("more blocks", lambda: net.height("node0") > 20, 30)
            spec = NodeSpec("node3", free_port(), join_from=net.url("node2"))
            net.net.add_node(spec)  # its certificate and etcd role, as the manual path gives
            net.start("node3")
            joined_at = len(sender.acked)
            wait_for("traffic after the join", lambda: len(sender.acked) > joined_at + 20, 30)
        finally:
            sender.halt.set()
            sender.join(10)
        log = net.log("node3")
        assert "joined from" in log and "verified" in log, log[-2000:]
        nodes = [*MEMBERS, "node3"]
        heads = wait_for(
            "node3 at everyone's head", lambda: {net.head(n) for n in nodes} or None, 30
        )
        wait_for("one head everywhere", lambda: len({net.head(n) for n in nodes}) == 1, 30)
        assert max(h for h, _ in heads) > 20
        # every transaction acknowledged under traffic is served by the new node
        for tx in sender.acked[-20:]:
            wait_for(f"{tx} on node3", partial(net.receipt, "node3", tx), 20)
        # the new member's node forwards its own member's transaction like any other node
        own = net.send("node3", sign(key_of(newcomer), 0, SINK, b"", gas=21_000))
        for n in nodes:
            assert wait_for(f"its transaction on {n}", partial(net.receipt, n, own), 20)
        assert all(net.metric(n, "alliance_blocks_refused_total") == 0 for n in nodes)
        assert net.status()["faulty"] == []

        for what, (tamper, message) in forgeries().items():
            check_refused(net, tmp_path / what.replace(" ", "-"), tamper, message)


def forgeries() -> dict[str, tuple[Callable[[Path], None], str]]:
    def state(db: Path) -> None:
        store = Store(db)
        store.db.execute("UPDATE state_account SET balance='1000000000000'")
        store.close()

    def header(db: Path) -> None:
        store = Store(db)
        number = store.head_number()
        forged = Header.decode(store.header(number) or b"").sealed(PrivateKey())
        store.db.execute(
            "UPDATE blocks SET header=?, hash=? WHERE number=?",
            (forged.encode(), forged.hash, number),
        )
        store.close()

    return {
        "a changed state": (state, "state commitment"),
        "a forged header": (header, "not a genesis sealer"),
    }


def check_refused(
    net: TestNetwork, work: Path, tamper: Callable[[Path], None], message: str
) -> None:
    """Serve a tampered copy of node0's snapshot (a well-formed archive, manifest and all)
    and run `network join` against it: a clear error, no chain, nothing listening."""
    work.mkdir()
    real = work / "real.tar.gz"
    real.write_bytes(httpx.get(net.url("node0") + "/snapshot", timeout=60).content)
    (work / "x").mkdir()
    db, _ = unpack_checked(real, work / "x", read_manifest(real))
    tamper(db)
    forged = work / "forged.tar.gz"
    backup(db.parent, forged)
    data_dir, port = work / "node", free_port()
    with serve_file(forged) as url:
        cmd = [
            sys.executable, "-m", "sharing_api.cli", "network", "join", "--from", url,
            "--genesis", str(net.net.root / "genesis.json"), "--data-dir", str(data_dir),
            "--id", "intruder", "--etcd", ",".join(net.net.etcd_endpoints),
            "--rpc", f"127.0.0.1:{port}",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "refusing the snapshot" in done.stderr and message in done.stderr, done.stderr
    assert not (data_dir / "chain.sqlite3").exists()
    assert list(data_dir.iterdir()) == []  # the work directory is gone too
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


@contextmanager
def serve_file(path: Path) -> Iterator[str]:
    body = path.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""Pruning: etcd keeps only recent blocks; a node left behind catches up from a peer.

Nodes run with a small pruning window (keep 3 blocks below the slowest live node, a pass
every 0.5 s, compaction every 2 s, defragmentation every 5 s). Under a steady stream of
transactions node2 is stopped; the network moves on and etcd's block count stays bounded
while the chain grows; the blocks node2 needs next leave etcd. Before it restarts, a fake
peer is registered in etcd (a status record claiming the greatest height, so it is asked
first) that serves every block with its last transaction dropped. node2 refuses those
(ALARM, metric), takes the real blocks from an honest peer, verifying each, and reaches
the same head as everyone.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ledger_node.network.access import EtcdAccess
from ledger_node.network.etcd import Etcd, prefix_end
from ledger_node.network.layout import Keys, decode_block, encode_block, to_json
from ledger_node.network.replica import ReplicaNode
from ledger_node.network.roles import ROOT_USER
from sharing_api.cli.main import cli
from tests.ledger_node.helpers import deploy_probe, make_chain
from tests.network.test_apply import K0, produce
from tests.network.test_faults import Sender
from tests.support.etcd import etcd_cluster, requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]
PRUNING = ["--prune-keep", "3", "--prune-every", "0.5", "--compact-every", "2"]
PRUNING += ["--defrag-every", "5"]
NODES = ["node0", "node1", "node2", "regulator"]


def etcd_call(net: TestNetwork, fn: str, *args: object) -> object:
    async def run() -> object:
        # root: the test plays an intruder who can write any key (a fake status record)
        etcd = Etcd(net.net.etcd_endpoints, access=net.net.access(ROOT_USER))
        try:
            return await getattr(etcd, fn)(*args)
        finally:
            await etcd.close()

    return asyncio.run(run())


def etcd_keys(net: TestNetwork, prefix: bytes) -> list[bytes]:
    found = etcd_call(net, "range", prefix, prefix_end(prefix), 0, True)
    assert isinstance(found, tuple)
    return [kv.key for kv in found[0]]


def etcd_blocks(net: TestNetwork) -> list[int]:
    return [int(k.rsplit(b"/", 1)[1]) for k in etcd_keys(net, Keys(net.net.name).blocks)]


def test_a_node_behind_the_pruned_point_catches_up_from_a_peer_and_refuses_a_forgery() -> None:
    with local_network(3, node_args=PRUNING, blockTimeMs=50) as net:
        producer = wait_for("a producer", net.producer, 15)
        lagging = next(n for n in ("node2", "node1") if n != producer)
        senders = [n for n in ("node0", "node1", "node2") if n != lagging]
        sender = Sender(net, net.member_key(senders[0]), senders)
        sender.start()
        try:
            wait_for("some blocks", lambda: net.height(producer) > 10, 30)
            net.stop(lagging)
            behind = net.height(senders[0])  # the lagging node is at most here
            counts = []

            def pruned_past() -> bool:
                blocks = etcd_blocks(net)
                counts.append(len(blocks))
                return bool(blocks) and min(blocks) > behind + 40 and net.height(producer) > 150

            wait_for("pruning past the stopped node", pruned_past, 90, every=0.5)
        finally:
            sender.halt.set()
            sender.join(10)
        # bounded under traffic: the window plus what a pass or two lets accumulate
        assert max(counts) <= 75, counts
        log = net.log(producer)
        assert "pruned etcd blocks up to" in log
        # etcd roles on (TLS rig): compaction and defragmentation are the root role's, so
        # the producer says once that it leaves them to etcd and the operator...
        assert log.count("may not compact or defragment") == 1, log[-3000:]
        # ... whose `alliance network defrag` (root credentials) defragments every member.
        root_dir = net.net.tls_dir(ROOT_USER)
        defrag = CliRunner().invoke(
            cli,
            ["network", "defrag", "--etcd", ",".join(net.net.etcd_endpoints),
             "--admin-dir", str(root_dir)],
        )  # fmt: skip
        assert defrag.exit_code == 0, defrag.output
        assert defrag.output.count("defragmented https://") == len(net.net.etcd_endpoints)
        node_dir = net.net.tls_dir(senders[0])
        denied = CliRunner().invoke(
            cli,
            ["network", "defrag", "--etcd", net.net.etcd_endpoints[0],
             "--admin-dir", str(node_dir)],
        )  # fmt: skip
        assert denied.exit_code != 0  # a node's credentials may not

        with forging_peer(net.url(senders[0])) as fake_url:
            keys = Keys(net.net.name)
            record = {"id": "evil", "url": fake_url, "height": 10**9, "role": "replica"}
            etcd_call(net, "put", keys.node("evil"), to_json(record))
            net.start(lagging)
            nodes = NODES
            wait_for(
                "the lagging node at everyone's head",
                lambda: len({net.head(n) for n in nodes}) == 1,
                90,
                every=0.2,
            )
            etcd_call(net, "delete", keys.node("evil"))
        log = net.log(lagging)
        assert "ALARM: refusing block" in log and "from peer evil" in log
        assert "from peer node" in log or "from peer regulator" in log
        assert net.metric(lagging, "alliance_peer_blocks_refused_total") >= 1
        assert net.metric(lagging, "alliance_peer_blocks_applied_total") >= 40
        # the blocks it took from a peer are the chain's own, and it re-checks them on restart
        for n in (behind + 1, behind + 20):
            want = net.rpc(senders[0], "eth_getBlockByNumber", hex(n), False)["hash"]
            assert net.rpc(lagging, "eth_getBlockByNumber", hex(n), False)["hash"] == want
        assert all(net.metric(n, "alliance_blocks_refused_total") == 0 for n in nodes)
        for tx in sender.acked[-10:]:
            assert net.receipt(lagging, tx) is not None
        # applied pool entries left etcd with their blocks
        assert etcd_keys(net, keys.pool) == []


@contextmanager
def forging_peer(honest: str) -> Iterator[str]:
    """A JSON-RPC peer relaying ``honest``'s blocks with each block's last tx dropped."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            replies = httpx.post(honest, content=body, timeout=10).json()
            for r in replies:
                if isinstance(r.get("result"), str):
                    header, raws = decode_block(bytes.fromhex(r["result"][2:]))
                    r["result"] = "0x" + encode_block(header, raws[:-1]).hex()
            out = json.dumps(replies).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_node_behind_the_pruned_point_never_campaigns(tmp_path: Path) -> None:
    """No peer to catch up from, no producer: the node must wait, not produce. Its next
    height's key is absent from etcd (pruned), so a commit there would fork the chain."""
    ahead = make_chain(tmp_path / "ahead")
    probe = deploy_probe(ahead, K0)
    for i in range(4):
        produce(ahead, probe, 1_700_000_100 + i)  # blocks 2..5
    behind = make_chain(tmp_path / "behind")  # same genesis and sealer, at block 0
    keys = Keys("behind-test")

    async def scenario(endpoints: list[str], access: EtcdAccess | None) -> tuple[object, bool, int]:
        etcd = Etcd(endpoints, access=access)
        for n in (4, 5):  # 1..3 pruned
            header = ahead.header_at(n)
            assert header is not None
            raws = [r.raw for r in ahead.store.block_txs(n)]
            await etcd.put(keys.block(n), encode_block(header, raws))
        node = ReplicaNode(behind, Etcd(endpoints, access=access), keys, "behind")
        node.keeper.start()
        try:
            for _ in range(100):
                if node.keeper.alive():
                    break
                await asyncio.sleep(0.05)
            assert node.keeper.alive()
            await node._campaign()
            return await etcd.get(keys.producer), node.producing, behind.head.number
        finally:
            await asyncio.to_thread(node.keeper.stop)
            await node.sync.close()
            await node.etcd.close()
            await etcd.close()

    with etcd_cluster(1) as cluster:
        producer, producing, head = asyncio.run(scenario(cluster.endpoints, cluster.client))
    assert producer is None and not producing and head == 0

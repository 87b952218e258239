"""A 3-member network + regulator on loopback: replication, forwarding, follower, restart."""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "11" * 20


def transfers(key: str, first_nonce: int, n: int) -> list[bytes]:
    return [sign(key, first_nonce + i, SINK, b"", gas=21_000) for i in range(n)]


def same_head(net: TestNetwork, nodes: list[str], height: int) -> str | None:
    heads = {net.head(n) for n in nodes}
    if len(heads) == 1:
        ((h, block_hash),) = heads
        return block_hash if h >= height else None
    return None


def test_any_node_forwards_every_node_verifies_regulator_reads() -> None:
    with local_network(3, blockTimeMs=50) as net:
        producer = wait_for("a producer", net.producer, 15)
        others = [n for n in ("node0", "node1", "node2") if n != producer]
        key = net.member_key("node0")
        hashes = net.send_batch(others[0], transfers(key, 0, 40))
        hashes += net.send_batch(others[1], transfers(key, 40, 40))
        everyone = ["node0", "node1", "node2", "regulator"]
        wait_for(
            "the last receipt on the regulator", lambda: net.receipt("regulator", hashes[-1]), 30
        )
        head = wait_for("one head everywhere", lambda: same_head(net, everyone, 1), 15)
        for node in everyone:
            receipts = [net.receipt(node, h) for h in hashes]
            assert all(r is not None and r["status"] == "0x1" for r in receipts), node
        assert net.rpc(
            "regulator", "eth_getTransactionCount", Account.from_key(key).address
        ) == hex(80)
        # the regulator is read-only: it refuses transactions
        with pytest.raises(RuntimeError, match="read-only"):
            net.send("regulator", transfers(key, 80, 1)[0])
        # blocks were sealed by the producer and applied (re-executed) by the others
        block = net.rpc("regulator", "eth_getBlockByHash", head, False)
        sealer = net.status()["nodes"]
        assert block["miner"] in {
            "0x" + Account.from_key(net.member_key(n)).address[2:].lower()
            for n in ("node0", "node1", "node2")
        }
        assert sealer  # status lists every node
        assert net.metric(others[0], "alliance_blocks_applied_total") >= 1
        assert net.metric(producer, "alliance_is_producer") == 1.0


def test_stop_everything_and_restart_gives_the_same_head() -> None:
    with local_network(3, blockTimeMs=50) as net:
        key = net.member_key("node1")
        hashes = net.send_batch("node1", transfers(key, 0, 30))
        wait_for("receipt", lambda: net.receipt("regulator", hashes[-1]), 30)
        everyone = ["node0", "node1", "node2", "regulator"]
        before = wait_for("one head", lambda: same_head(net, everyone, 1), 15)
        net.net.down()
        net.net.start_etcd()
        net.start_all(everyone)
        after = {net.head(n)[1] for n in everyone}
        assert after == {before}
        # and the restarted network still makes progress
        more = net.send_batch("node2", transfers(key, 30, 5))
        wait_for("a receipt after restart", lambda: net.receipt("node0", more[-1]), 30)

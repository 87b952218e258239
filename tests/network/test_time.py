"""A sealer whose clock runs an hour ahead cannot move chain time.

node2 is restarted with its clock shifted (``ALLIANCE_CLOCK_OFFSET_S``, tests only) while the
other sealers are stopped, so it produces. The regulator refuses its block as stamped from
the future; the other sealers come back, refuse it too and remove it, node2 is marked faulty,
and the transaction it carried is included by an honest producer at the real time: consents
judged by chain time do not all read as expired.
"""

from __future__ import annotations

import signal
import time
from functools import partial

import pytest
from eth_account import Account

from ledger_node.clock import CLOCK_OFFSET_ENV, DEFAULT_MAX_AHEAD_S
from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "44" * 20
HONEST = ["node0", "node1", "regulator"]
HOUR = 3600


def block_time(net: TestNetwork, node: str, number: str) -> int:
    return int(net.rpc(node, "eth_getBlockByNumber", number, False)["timestamp"], 16)


def sane(timestamp: int) -> bool:
    return time.time() - 60 <= timestamp <= time.time() + DEFAULT_MAX_AHEAD_S


def test_a_sealer_with_a_clock_ahead_cannot_move_chain_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with local_network(3, blockTimeMs=50) as net:
        wait_for("a producer", net.producer, 15)
        k1 = net.member_key("node1")
        warmup = net.send_batch("node1", [sign(k1, i, SINK, b"", gas=21_000) for i in range(3)])
        wait_for("warm-up receipts", lambda: net.receipt("node2", warmup[-1]), 20)
        height = net.height("node2")
        assert sane(block_time(net, "node2", "latest"))

        for n in ("node2", "node0", "node1"):
            net.net.kill_node(n, signal.SIGTERM)  # clean stops release the producer lease
        monkeypatch.setenv(CLOCK_OFFSET_ENV, str(HOUR))
        net.start("node2")  # the child keeps the variable; nobody else gets it
        monkeypatch.delenv(CLOCK_OFFSET_ENV)
        wait_for("node2 producing", lambda: net.producer() == "node2", 15)
        moved = net.send("node2", sign(k1, 3, SINK, b"", gas=21_000))
        receipt = wait_for("node2 including it", partial(net.receipt, "node2", moved), 15)
        assert block_time(net, "node2", receipt["blockNumber"]) > time.time() + HOUR - 60

        wait_for(
            "the regulator's alarm",
            lambda: net.metric("regulator", "alliance_blocks_refused_total") >= 1,
            15,
        )
        assert "s ahead of this node's clock (at most 15 s allowed)" in net.log("regulator")
        assert net.height("regulator") == height
        assert sane(block_time(net, "regulator", "latest"))

        net.start_all(["node0", "node1"])
        st = wait_for("node2 marked faulty", lambda: (s := net.status())["faulty"] and s, 20)
        sealer2 = "0x" + Account.from_key(net.member_key("node2")).address[2:].lower()
        assert st["faulty"] == [sealer2]
        wait_for("an honest producer", lambda: net.producer() in ("node0", "node1"), 15)
        # the removed block's transaction went back to the pool: included at the real time
        for n in HONEST:
            again = wait_for(f"the transaction on {n}", partial(net.receipt, n, moved), 20)
            assert sane(block_time(net, n, again["blockNumber"]))
        after = net.send("node0", sign(k1, 4, SINK, b"", gas=21_000))
        for n in HONEST:
            wait_for(f"a later receipt on {n}", partial(net.receipt, n, after), 20)
            assert sane(block_time(net, n, "latest"))
        assert len({net.head(n) for n in HONEST}) == 1

"""A node whose database was tampered with: the others refuse its blocks and remove them.

node2's SQLite is edited while it is stopped: node0's account gets 1,000 ether it never had
(and the genesis header is rewritten to match, so node2 itself notices nothing). node2 then
becomes the producer and includes a transfer that only its edited state can pay for.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from functools import partial

import pytest
from eth_account import Account

from ledger_node.block import Header
from ledger_node.datadir import DB_FILE
from ledger_node.store import Store
from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "33" * 20
HONEST = ["node0", "node1", "regulator"]


def tamper_balance(net: TestNetwork, node_id: str, account: bytes, balance: int) -> None:
    store = Store(net.net.data_dir(node_id) / DB_FILE)
    try:
        assert store.get_meta("checkpoint") == b"0"  # the edited rows are the state it replays
        store.begin()
        store.db.execute(
            "INSERT OR REPLACE INTO state_account VALUES (?, ?, 0, ?)", (account, str(balance), b"")
        )
        genesis = Header.decode(store.header(0) or b"")
        forged = replace(genesis, state_root=store.load_state().commitment())
        store.db.execute(
            "UPDATE blocks SET hash=?, header=? WHERE number=0", (forged.hash, forged.encode())
        )
        store.commit()
    finally:
        store.close()


def balance(net: TestNetwork, node: str) -> int:
    return int(net.rpc(node, "eth_getBalance", SINK, "latest"), 16)


def test_blocks_from_a_tampered_node_are_refused_and_removed() -> None:
    with local_network(3, blockTimeMs=50) as net:
        wait_for("a producer", net.producer, 15)
        k0, k1 = net.member_key("node0"), net.member_key("node1")
        a0 = bytes.fromhex(Account.from_key(k0).address[2:])
        warmup = net.send_batch("node1", [sign(k1, i, SINK, b"", gas=21_000) for i in range(5)])
        wait_for("warm-up receipts", lambda: net.receipt("node2", warmup[-1]), 20)
        height = net.height("node2")

        net.net.kill_node("node2", signal.SIGTERM)
        tamper_balance(net, "node2", a0, 10**21)
        for n in ("node0", "node1"):
            net.net.kill_node(n, signal.SIGTERM)  # clean stops release the producer lease
        net.start("node2")
        wait_for("node2 producing", lambda: net.producer() == "node2", 15)
        theft = net.send("node2", sign(k0, 0, SINK, b"", gas=21_000, value=10**18))
        receipt = wait_for("node2 including the transfer", partial(net.receipt, "node2", theft), 15)
        assert receipt["status"] == "0x1" and balance(net, "node2") == 10**18

        # the regulator re-executes node2's block, refuses it and raises the alarm
        wait_for(
            "the regulator's alarm",
            lambda: net.metric("regulator", "alliance_blocks_refused_total") >= 1,
            15,
        )
        assert net.height("regulator") == height
        assert "ALARM: refusing block" in net.log("regulator")
        # the other sealers come back, refuse it too, and together remove it
        net.start_all(["node0", "node1"])
        st = wait_for("node2 marked faulty", lambda: (s := net.status())["faulty"] and s, 20)
        sealer2 = "0x" + Account.from_key(net.member_key("node2")).address[2:].lower()
        assert st["faulty"] == [sealer2]
        wait_for("an honest producer", lambda: net.producer() in ("node0", "node1"), 15)
        for n in ("node0", "node1"):
            assert "re-execution differs in state root, receipts root" in net.log(n)
            assert net.metric(n, "alliance_blocks_refused_total") >= 1

        # the chain goes on without node2's block; the theft never happened on honest nodes
        after = net.send("node1", sign(k1, 5, SINK, b"", gas=21_000))
        for n in HONEST:
            wait_for(f"receipt on {n}", partial(net.receipt, n, after), 20)
            assert net.receipt(n, theft) is None
            assert balance(net, n) == 0
        heads = {net.head(n) for n in HONEST}
        assert len(heads) == 1 and next(iter(heads))[0] == height + 1
        # node2 cannot produce again (faulty) and keeps refusing the honest chain
        assert net.producer() != "node2"
        assert net.height("node2") == height + 1 and net.head("node2") not in heads

"""Fault tests, each bounded in time: producer killed, producer deposed while stopped, etcd
member killed, node cut off."""

from __future__ import annotations

import re
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ledger_node.network.procs import process_state
from ledger_node.network.replica import FAILPOINT_SEALED
from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "22" * 20
MEMBERS = ["node0", "node1", "node2"]


def same_head(net: TestNetwork, nodes: list[str], height: int = 0) -> str | None:
    heads = {net.head(n) for n in nodes}
    if len(heads) == 1:
        ((h, block_hash),) = heads
        return block_hash if h >= height else None
    return None


class Sender(threading.Thread):
    """Sends transfers one at a time, round robin over ``targets``; keeps what was acked."""

    def __init__(self, net: TestNetwork, key: str, targets: list[str]) -> None:
        super().__init__(daemon=True)
        self.net, self.key, self.targets = net, key, targets
        self.acked: list[str] = []
        self.acked_by: dict[str, list[str]] = {t: [] for t in targets}
        self.refused = 0
        self.halt = threading.Event()

    def run(self) -> None:
        nonce, i = 0, 0
        while not self.halt.is_set():
            raw = sign(self.key, nonce, SINK, b"", gas=21_000)
            target = self.targets[i % len(self.targets)]
            try:
                tx_hash = self.net.send(target, raw)
                self.acked.append(tx_hash)
                self.acked_by[target].append(tx_hash)
                nonce += 1
            except Exception:  # not acknowledged (node or etcd away): send it again
                self.refused += 1
                time.sleep(0.05)
            i += 1
            time.sleep(0.01)


def first_block_not_by(
    net: TestNetwork, node: str, after: int, sealer: str
) -> dict[str, Any] | None:
    """The first block above ``after`` (as ``node`` serves it) whose miner is not ``sealer``."""
    for n in range(after + 1, net.height(node) + 1):
        block = net.rpc(node, "eth_getBlockByNumber", hex(n), False)
        if block["miner"].lower() != sealer.lower():
            return dict(block)
    return None


def test_killed_producer_is_replaced_within_5s_and_no_acked_tx_is_lost() -> None:
    with local_network(3, blockTimeMs=50) as net:
        old = wait_for("a producer", net.producer, 15)
        old_sealer = wait_for("the producer's sealer", lambda: net.status()["producer_sealer"], 5)
        rest = [n for n in MEMBERS if n != old]
        # the producer gets every third transaction too, up to the moment it is killed
        sender = Sender(net, net.member_key(rest[0]), [old, *rest])
        sender.start()
        wait_for("some traffic", lambda: len(sender.acked) > 30, 20)
        # blocks up to here are the old producer's; whatever it left in etcd is above too
        height = net.height(rest[0])
        net.kill(old)
        killed_at = time.monotonic()
        acked_at_kill = len(sender.acked)
        # takeover = a block sealed by *another* sealer, not one the old producer left in etcd
        block = wait_for(
            "a block sealed by a new producer",
            lambda: first_block_not_by(net, rest[0], height, old_sealer),
            10,
            0.02,
        )
        takeover = time.monotonic() - killed_at
        st = net.status()  # what `alliance network status` shows
        new = st["producer"]
        assert new in rest
        assert block["miner"].lower() == st["producer_sealer"].lower()
        assert block["miner"].lower() == next(n for n in st["nodes"] if n["id"] == new)["sealer"]
        assert next(n for n in st["nodes"] if n["id"] == old)["up"] is False
        print(f"takeover after SIGKILL: {takeover:.2f} s (block {int(block['number'], 16)})")
        assert takeover < 5.0, f"takeover took {takeover:.2f} s"
        wait_for("more traffic", lambda: len(sender.acked) > acked_at_kill + 30, 20)
        sender.halt.set()
        sender.join(10)
        assert not sender.is_alive()
        assert sender.refused > 0  # the sends to the killed node failed and were not counted
        by_old = sender.acked_by[old]
        assert by_old, "the producer acknowledged nothing before it was killed"
        # ... and one of its acknowledgements came just before the SIGKILL (round robin)
        assert by_old[-1] in sender.acked[max(0, acked_at_kill - 6) : acked_at_kill]
        print(f"acked {len(sender.acked)} ({len(by_old)} by the killed producer), "
              f"refused {sender.refused}")  # fmt: skip
        last = sender.acked[-1]
        for node in [*rest, "regulator"]:
            wait_for(f"receipts on {node}", partial(net.receipt, node, last), 20)
            missing = [h for h in sender.acked if net.receipt(node, h) is None]
            assert not missing, f"{node} lost {len(missing)} acknowledged transactions"
        # the killed node comes back as a replica and catches up
        net.start(old)
        wait_for(
            "the old producer catching up", lambda: same_head(net, [*MEMBERS, "regulator"]), 30
        )


def test_killing_one_etcd_member_does_not_stop_the_chain() -> None:
    with local_network(3, blockTimeMs=50) as net:
        wait_for("a producer", net.producer, 15)
        key = net.member_key("node0")
        first = net.send_batch("node1", [sign(key, i, SINK, b"", gas=21_000) for i in range(10)])
        wait_for("receipts", lambda: net.receipt("node2", first[-1]), 20)
        leader = next(i for i, e in enumerate(net.status()["etcd"]) if e["leader"])
        assert net.net.etcd is not None
        net.net.etcd.kill_member(leader)  # the Raft leader itself
        more: list[str] = []
        for i in range(10, 40):
            raw = sign(key, i, SINK, b"", gas=21_000)
            more.append(wait_for("an ack", partial(net.send, "node2", raw), 20))
        wait_for("receipts after the etcd kill", lambda: net.receipt("node0", more[-1]), 30)
        wait_for("one head", lambda: same_head(net, [*MEMBERS, "regulator"], 2), 20)
        assert sum(e["up"] for e in net.status()["etcd"]) == 2


def test_cut_off_node_stops_producing_and_catches_up() -> None:
    with local_network(3, blockTimeMs=50) as net:
        victim = wait_for("a producer", net.producer, 15)
        rest = [n for n in MEMBERS if n != victim]
        key = net.member_key(rest[0])
        net.cut(victim)
        new = wait_for("a new producer", lambda: (p := net.producer()) != victim and p, 10, 0.05)
        assert new in rest
        hashes = net.send_batch(rest[0], [sign(key, i, SINK, b"", gas=21_000) for i in range(50)])
        wait_for("receipts on the connected side", lambda: net.receipt(rest[1], hashes[-1]), 20)
        cut_height = net.height(victim)
        assert net.height(rest[0]) > cut_height
        row = next(n for n in net.status()["nodes"] if n["id"] == victim)
        assert row["up"] and row["lag"] > 0  # `network status` shows it falling behind
        # while cut off it produces nothing and refuses to acknowledge transactions
        with pytest.raises(RuntimeError, match="ordering unavailable"):
            net.send(victim, sign(key, 50, SINK, b"", gas=21_000))
        assert net.metric(victim, "alliance_is_producer") == 0.0
        time.sleep(1)
        assert net.height(victim) == cut_height
        net.restore(victim)
        head = wait_for(
            "the cut-off node catching up", lambda: same_head(net, [*MEMBERS, "regulator"], 1), 30
        )
        assert net.receipt(victim, hashes[-1]) is not None
        assert head == net.head(victim)[1]


def test_deposed_producer_cannot_commit_at_a_taken_height(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer stops (SIGSTOP, at the failpoint: block h sealed, not yet sent to etcd)
    until its lease expires and another node has committed h and more; then SIGCONT: its
    commit of h, sent to a reachable etcd, is refused by the compare-and-swap, it steps down,
    and every node ends with the same block at every height, no alarm, no tx lost."""
    failpoint = tmp_path / "failpoint"
    monkeypatch.setenv(FAILPOINT_SEALED, str(failpoint))  # the nodes inherit it (not armed)
    with local_network(3, blockTimeMs=50) as net:
        old = wait_for("a producer", net.producer, 15)
        st = wait_for(
            "the producer's sealer", lambda: (x := net.status())["producer_sealer"] and x, 5
        )
        old_sealer = st["producer_sealer"]
        rest = [n for n in MEMBERS if n != old]
        sender = Sender(net, net.member_key(rest[0]), rest)
        sender.start()
        wait_for("some traffic", lambda: len(sender.acked) > 20, 20)
        offset = len(net.log(old))
        pid = net.net.procs[old].pid
        failpoint.touch()  # armed: the producer's next sealed block stops it
        wait_for("the producer stopping itself", lambda: not failpoint.exists(), 10, 0.01)
        try:
            wait_for("SIGSTOP", lambda: process_state(pid) == "T", 5, 0.01)
            stopped_at = time.monotonic()
            sealed = int(
                wait_for("the failpoint's log line", lambda: re.search(
                    r"failpoint: SIGSTOP before committing block (\d+)", net.log(old)[offset:]
                ), 5).group(1)
            )  # fmt: skip
            assert net.status()["height"] == sealed - 1  # h was sealed, never committed
            block = wait_for(
                "a block sealed by another producer",
                lambda: first_block_not_by(net, rest[0], sealed - 1, old_sealer),
                # The lease TTL is 2 s and takeover takes ~2 s (the other fault test holds it
                # to 5 s). It once stalled for good: the backlog gathered while the producer
                # was stopped made the new producer's first commit exceed etcd's operations
                # per transaction (test_pool_backlog.py).
                20,
                0.02,
            )
            print(f"stopped producer replaced after {time.monotonic() - stopped_at:.2f} s")
            assert int(block["number"], 16) == sealed  # the height it sealed is taken
            new = net.producer()
            assert new in rest
            wait_for("more blocks", lambda: net.height(rest[0]) >= sealed + 2, 10, 0.02)
            assert process_state(pid) == "T"  # still stopped: it could not have sent anything
        finally:
            net.resume(old)
        resumed_at = time.monotonic()
        line = wait_for(
            "the old producer stepping down",
            lambda: next(
                (x for x in net.log(old)[offset:].splitlines() if "no longer producing" in x),
                None,
            ),
            10,
        )
        print(f"stepped down {time.monotonic() - resumed_at:.2f} s after SIGCONT: {line}")
        # its commit was refused
        assert f"lost the producer role before block {sealed}" in line, net.log(old)[offset:]
        # the gauge drops once the hand-over attempt (a delete fenced on its token) returns
        wait_for("is_producer 0", lambda: net.metric(old, "alliance_is_producer") == 0.0, 5)
        assert net.metric(old, "alliance_takeovers_total") == 1.0  # it did not take it back
        assert net.producer() == new
        sender.halt.set()
        sender.join(10)
        everyone = [*MEMBERS, "regulator"]
        wait_for(
            "an empty pool and one head everywhere",
            lambda: net.status()["pool_entries"] == 0 and same_head(net, everyone, sealed + 2),
            30,
        )
        top = net.head(old)[0]
        # no fork: every height holds the same block on every node, and none above its
        # last committed block is the old producer's
        for n in range(1, top + 1):
            blocks = [net.rpc(x, "eth_getBlockByNumber", hex(n), False) for x in everyone]
            assert len({b["hash"] for b in blocks}) == 1, f"fork at height {n}"
            if n >= sealed:
                assert blocks[0]["miner"].lower() != old_sealer.lower(), n
        # no alarm anywhere: nothing refused, nothing removed, nobody marked faulty
        st = net.status()
        assert st["faulty"] == []
        for node in everyone:
            assert net.metric(node, "alliance_blocks_refused_total") == 0.0, node
            assert net.metric(node, "alliance_blocks_removed_total") == 0.0, node
            assert "ALARM" not in net.log(node), node
            assert next(r for r in st["nodes"] if r["id"] == node)["alarms"] == []
        missing = [x for x in sender.acked if net.receipt(old, x) is None]
        assert not missing, f"{len(missing)} acknowledged transactions lost"
        # a clean stop (SIGTERM) revokes the lease: the role moves at once, not after the TTL
        net.stop(new)
        stopped_at = time.monotonic()
        wait_for("a producer after a clean stop", lambda: net.producer() not in (None, new), 5)
        handover = time.monotonic() - stopped_at
        print(f"hand-over after SIGTERM: {handover:.2f} s")
        assert handover < 1.0, f"hand-over took {handover:.2f} s: the lease was not revoked"
        assert "Traceback" not in net.log(new), net.log(new)[-2000:]

"""Members on hosts of their own: each member's etcd member and node in a Linux network
namespace with its own address, the regulator on another; TLS certificates name those
addresses. The partition cuts links between hosts at the router that joins them (packets
dropped silently, as on a broken link), while the test still reaches every host.

The producer's host is cut off from the other members and the regulator, under a steady
stream of transactions to the other two members: their side (two of three etcd members, a
Raft majority) elects a new producer and goes on; the cut-off node stops producing, answers
no acknowledgement and stays at its height. Healed, it catches up to the same head and holds
every acknowledged transaction; nobody was marked faulty.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.ledger_node.helpers import sign
from tests.network.test_faults import MEMBERS, Sender, same_head
from tests.support.etcd import requires_etcd
from tests.support.netns import Lan
from tests.support.network import TestNetwork, netns_network, wait_for

# Network namespaces need root: the tests run as root (a non-root run fails in `ip netns`).
pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]
SINK = "0x" + "22" * 20
REGULATOR_HOST = len(MEMBERS)  # hosts: node0..node2, then the regulator's


def new_producer(net: TestNetwork, old: str) -> str | None:
    current = net.producer()
    return current if current not in (None, old) else None


@contextmanager
def host_cut_off(net: TestNetwork, lan: Lan, cut: str) -> Iterator[Sender]:
    """Transactions stream to the other members; once some are acknowledged, ``cut``'s host
    is cut off from theirs and the regulator's. On exit the links heal and the stream stops;
    then every node reaches one head holding every acknowledged transaction, no alarm."""
    rest = [n for n in MEMBERS if n != cut]
    sender = Sender(net, net.member_key(rest[0]), rest)
    sender.start()
    try:
        wait_for("some traffic", lambda: len(sender.acked) > 20, 30)
        lan.partition([MEMBERS.index(cut)], [MEMBERS.index(n) for n in rest] + [REGULATOR_HOST])
        yield sender
    finally:
        lan.heal()
        sender.halt.set()
        sender.join(30)
    head = wait_for("one head everywhere", lambda: same_head(net, [*MEMBERS, "regulator"], 1), 60)
    assert head == net.head(cut)[1]
    for tx in sender.acked:  # nothing acknowledged was lost, on either side
        assert net.receipt(cut, tx) is not None, tx
    st = net.status()
    assert st["faulty"] == [] and st["forged_marks"] == []
    assert all(n["alarms"] == [] for n in st["nodes"]), st["nodes"]


def more_acks(sender: Sender, within_s: float) -> None:
    acked = len(sender.acked)
    wait_for("more acknowledgements", lambda: len(sender.acked) > acked + 20, within_s)


def test_a_cut_off_member_stops_the_majority_goes_on_and_it_catches_up() -> None:
    with netns_network(3, blockTimeMs=50) as (net, lan):
        assert {spec.address for spec in net.net.nodes} == {h.address for h in lan.hosts}
        assert all(not e.startswith("https://127.") for e in net.net.etcd_endpoints)
        old = wait_for("a producer", net.producer, 20)
        rest = [n for n in MEMBERS if n != old]
        with host_cut_off(net, lan, old) as sender:
            cut_at = time.monotonic()
            new = wait_for("a producer on the majority side", lambda: new_producer(net, old), 30)
            print(f"new producer {new} after {time.monotonic() - cut_at:.1f} s")
            assert new in rest
            more_acks(sender, 30)
            is_producer = lambda: net.metric(old, "alliance_is_producer") == 0.0  # noqa: E731
            wait_for("the cut-off node stepping down", is_producer, 15)
            with pytest.raises(RuntimeError, match="ordering unavailable"):
                net.send(old, sign(net.member_key(old), 0, SINK, b"", gas=21_000))
            stuck = net.height(old)
            time.sleep(1)
            assert net.height(old) == stuck < net.height(rest[0])


def test_cutting_off_the_etcd_leaders_host_loses_nothing() -> None:
    """The etcd Raft leader's host (its etcd member and that member's node) is cut off: the
    other nodes' etcd clients, waiting on a leader that no longer answers, must time out and
    turn to the other members (loopback tests see refused connections instead)."""
    with netns_network(3, blockTimeMs=50) as (net, lan):
        wait_for("a producer", net.producer, 20)
        cut = MEMBERS[next(i for i, e in enumerate(net.status()["etcd"]) if e["leader"])]
        rest = [n for n in MEMBERS if n != cut]
        with host_cut_off(net, lan, cut) as sender:
            cut_at = time.monotonic()
            more_acks(sender, 40)
            print(f"acknowledging again {time.monotonic() - cut_at:.1f} s after the cut")
            wait_for("a producer", lambda: net.producer() in rest or None, 30)
            wait_for("a receipt", lambda: net.receipt(rest[1], sender.acked[-1]), 30)

"""A backlog of many small pool entries does not stall the producer.

Each forwarded request becomes one pool entry, and a block deletes the entries it spent in
the same etcd transaction. etcd refuses a transaction with more than 128 operations
(``--max-txn-ops``), so a block that spent more entries than that could never commit: the
producer resynchronised and retried the same block for as long as its lease lived. This
happened after a producer had been stopped for a few seconds under traffic (the deposed-
producer fault test stalled past 60 s). Here a replica's credentials write 3 x 127
one-transaction entries at once, as forwarding under load does.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ledger_node.network.etcd import MAX_TXN_OPS, Etcd, op_put, prefix_end
from ledger_node.network.layout import Keys, encode_txs
from ledger_node.txcodec import decode_raw
from tests.ledger_node.helpers import sign
from tests.network.test_faults import MEMBERS, same_head
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "66" * 20


def write_entries(net: TestNetwork, node: str, raws: list[bytes]) -> None:
    """One pool entry per transaction, 127 entries and a tick per etcd transaction."""
    keys = Keys(net.net.name)

    async def go() -> None:
        etcd = Etcd(net.net.etcd_endpoints, access=net.net.access(node))
        try:
            per_txn = MAX_TXN_OPS - 1
            stamp = time.time_ns()
            for start in range(0, len(raws), per_txn):
                puts = [
                    op_put(keys.pool_entry(stamp + i, node), encode_txs([raw]))
                    for i, raw in enumerate(raws[start : start + per_txn], start)
                ]
                puts.append(op_put(keys.tick_pool, node.encode()))
                assert await etcd.txn([], puts)
        finally:
            await etcd.close()

    asyncio.run(go())


def pool_keys(net: TestNetwork) -> int:
    keys = Keys(net.net.name)

    async def go() -> int:
        etcd = Etcd(net.net.etcd_endpoints, access=net.net.access("regulator"))
        try:
            kvs, _ = await etcd.range(keys.pool, prefix_end(keys.pool))
            return len(kvs)
        finally:
            await etcd.close()

    return asyncio.run(go())


def test_a_block_spending_more_entries_than_one_etcd_txn_takes_commits() -> None:
    with local_network(3, blockTimeMs=50) as net:
        producer = wait_for("a producer", net.producer, 15)
        replica = next(n for n in MEMBERS if n != producer)
        key = net.member_key(replica)
        raws = [sign(key, i, SINK, b"", gas=21_000) for i in range(3 * (MAX_TXN_OPS - 1))]
        write_entries(net, replica, raws)
        last = "0x" + decode_raw(raws[-1]).hash.hex()
        wait_for("every backlog transaction in a block", lambda: net.receipt(replica, last), 30)
        # the spent entries leave etcd, also beyond what the last block took along
        wait_for("an empty pool in etcd", lambda: pool_keys(net) == 0 or None, 15)
        assert net.producer() == producer  # it never stepped down
        assert net.metric(producer, "alliance_takeovers_total") == 1.0
        wait_for("one head", lambda: same_head(net, [*MEMBERS, "regulator"], 1), 20)

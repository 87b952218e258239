"""Refusing a block: the alarm, this sealer's signed vote, and removal once a quorum agrees.

A node that refuses block h (re-execution differs, a bad seal, a timestamp from the future,
...) raises an ALARM and, if it is a sealer, puts its signed vote (votes.py) under
``rejected/<h>/<node>``. Once a majority of the sealers other than the block's own signed
votes against exactly that block, one of them removes it and every block after it in one etcd
transaction, puts their transactions back into the pool and writes the sealer's faulty mark,
which carries the block's header and those votes as evidence. Unsigned, forged or mismatched
votes count for nothing, and a faulty mark that does not prove itself is ignored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from coincurve import PrivateKey

from ledger_node.network.etcd import (
    KV,
    Etcd,
    cmp_mod,
    op_delete,
    op_delete_prefix,
    op_put,
    prefix_end,
)
from ledger_node.network.layout import Keys, decode_block, encode_txs, from_json, height_of
from ledger_node.network.metrics import NetworkMetrics
from ledger_node.network.votes import Ballot
from ledger_node.txcodec import keccak

log = logging.getLogger("ledger_node.network")


class Judge:
    def __init__(
        self,
        etcd: Etcd,
        keys: Keys,
        node_id: str,
        ballot: Ballot,
        key: PrivateKey | None,
        net: NetworkMetrics,
    ) -> None:
        self.etcd, self.keys, self.node_id, self.ballot = etcd, keys, node_id, ballot
        self.key = key  # None on a follower: it refuses and alarms but does not vote
        self.net = net
        self.alarms: list[str] = []
        self._refused: dict[int, int] = {}  # height -> mod revision already reported
        self._forged: set[bytes] = set()  # faulty marks already reported as forged
        self._stamp = 0

    async def refuse(self, height: int, kv: KV, exc: Exception) -> None:
        try:
            header, _ = decode_block(kv.value)
            sealer, block = header.coinbase, header.hash
        except ValueError:  # not even a block: vote on its bytes, nobody can be blamed
            sealer, block = b"", keccak(kv.value)
        if self._refused.get(height) != kv.mod_revision:
            self._refused[height] = kv.mod_revision
            msg = f"ALARM: refusing block {height} sealed by 0x{sealer.hex()}: {exc}"
            log.error("%s: %s", self.node_id, msg)
            self.alarms.append(msg)
            self.net.refused.inc()
            if self.key is not None:
                vote = self.ballot.sign(self.key, height, block, sealer, str(exc)[:500])
                await self.etcd.put(self.keys.rejected(height, self.node_id), vote)
        await self._remove_if_quorum(height, kv, block, sealer)

    async def _remove_if_quorum(self, height: int, kv: KV, block: bytes, sealer: bytes) -> None:
        found, _ = await self.etcd.range(
            self.keys.rejected(height), prefix_end(self.keys.rejected(height))
        )
        counted: dict[bytes, bytes] = {}  # voter -> its vote, one per sealer
        for v in found:
            vote = self.ballot.parse(v.value)
            if vote is not None and vote.voter in self.ballot.voters([vote], height, block, sealer):
                counted.setdefault(vote.voter, v.value)
        need = self.ballot.quorum(sealer)
        if not need or len(counted) < need:
            return
        later, _ = await self.etcd.range(self.keys.block(height), prefix_end(self.keys.blocks))
        if not later or later[0].mod_revision != kv.mod_revision:
            return  # block h changed since it was judged: the votes are not about this one
        compare = [cmp_mod(b.key, b.mod_revision) for b in later]
        ops: list[dict[str, Any]] = [op_delete(b.key) for b in later]
        for b in later:  # their transactions were acknowledged: back into the pool
            try:
                _, txs = decode_block(b.value)
            except ValueError:
                continue
            if txs:
                self._stamp = max(time.time_ns(), self._stamp + 1)
                entry = self.keys.pool_entry(self._stamp, f"requeued-{height_of(b.key)}")
                ops.append(op_put(entry, encode_txs(txs)))
        if sealer:  # a block that does not decode names no sealer to blame
            header, _ = decode_block(kv.value)
            mark = self.ballot.mark(header, list(counted.values()), self.node_id)
            ops.append(op_put(self.keys.faulty(sealer), mark))
        ops.append(op_put(self.keys.tick_block, str(height).encode()))
        ops.append(op_put(self.keys.tick_pool, b"requeued"))
        ops.append(op_delete_prefix(self.keys.rejected(height)))
        producer = await self.etcd.get(self.keys.producer)
        if producer is not None and from_json(producer.value).get("sealer") == "0x" + sealer.hex():
            compare.append(cmp_mod(producer.key, producer.mod_revision))
            ops.append(op_delete(producer.key))
        if await self.etcd.txn(compare, ops):
            self.net.removed.inc(len(later))
            log.error(
                "%s: ALARM: removed blocks %d..%d sealed by faulty 0x%s (%d of %d sealers signed)",
                self.node_id, height, height + len(later) - 1, sealer.hex(), len(counted), need,
            )  # fmt: skip

    async def is_faulty(self, sealer: bytes) -> bool:
        """Whether etcd holds a faulty mark for ``sealer`` that proves itself."""
        mark = await self.etcd.get(self.keys.faulty(sealer))
        if mark is None:
            return False
        if self.ballot.mark_holds(mark.value, sealer):
            return True
        if mark.value not in self._forged:
            self._forged.add(mark.value)
            msg = f"ALARM: ignoring a faulty mark for 0x{sealer.hex()} that proves nothing"
            log.error("%s: %s", self.node_id, msg)
            self.alarms.append(msg)
        return False

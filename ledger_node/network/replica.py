"""A ledger node replicated through etcd: follower, candidate and producer in one loop.

* Every node applies the blocks stored in etcd in height order, re-executing each one
  (``Chain.apply_block``): a block whose seal, roots or state commitment differ is refused,
  with an ALARM log line, the ``alliance_blocks_refused`` metric and a signed ``rejected``
  vote. Once a majority of the other sealers signed votes against the same block, it and its
  descendants are removed, their transactions go back to the pool and their sealer is marked
  faulty (quorum.py, votes.py).
* A transaction sent to any node is checked against that node's state, then written to the
  etcd pool before its hash is returned: an acknowledged transaction survives any node.
* The producer holds ``producer`` under its lease; it admits pool entries, seals a block and
  commits it with one etcd transaction: "block <h> absent and I am still the producer" ->
  put the block and delete the pool entries it consumed. Only then does it store the block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from itertools import islice

from aiohttp import web

from ledger_node.block import Header, SealError, address_of
from ledger_node.chain import AdmissionError, Chain
from ledger_node.limits import RpcLimits
from ledger_node.network.catchup import PeerSync, raw_block
from ledger_node.network.etcd import (
    KV,
    MAX_TXN_OPS,
    Etcd,
    cmp_absent,
    cmp_mod,
    cmp_value,
    op_delete,
    op_put,
    prefix_end,
    watch_prefix,
)
from ledger_node.network.forward import Forwarder
from ledger_node.network.layout import (
    Keys,
    decode_block,
    decode_txs,
    encode_block,
    from_json,
    height_of,
    to_json,
)
from ledger_node.network.lease import LeaseKeeper
from ledger_node.network.prune import Pruner, PruneSettings
from ledger_node.network.quorum import Judge
from ledger_node.network.votes import Ballot
from ledger_node.permission import NotAMember
from ledger_node.refusal import Refusal

log = logging.getLogger("ledger_node.network")
IDLE_POLL_S = 0.5  # a watch on etcd wakes the loop; this is only the fallback
PENDING_NONCE_WAIT_S = 30.0  # how long a "nonce too high" pool tx waits for its predecessor
MAX_BLOCK_BYTES = 8 * 1024 * 1024
# Fault-test failpoint: when this variable names a file, the producer that deletes it (so
# only one, once) stops its own process with SIGSTOP after sealing a block and before
# committing it to etcd (tests/network/test_faults.py, the compare-and-swap fence).
FAILPOINT_SEALED = "ALLIANCE_FAILPOINT_SEALED"


@dataclass
class PoolEntry:
    waiting: list[bytes]  # not yet admitted (e.g. nonce too high for now)
    pending: set[bytes] = field(default_factory=set)  # admitted, not yet in a block
    since: float = field(default_factory=time.monotonic)


class ReplicaNode(Forwarder):
    def __init__(
        self,
        chain: Chain,
        etcd: Etcd,
        keys: Keys,
        node_id: str,
        url: str = "",
        follower: bool = False,
        lease_ttl: int = 2,
        block_time_ms: int | None = None,
        cut_txs: int | None = None,
        limits: RpcLimits | None = None,
        prune: PruneSettings | None = None,
    ) -> None:
        super().__init__(chain, etcd, keys, node_id, follower, block_time_ms, cut_txs, limits)
        self.methods.table["alliance_getRawBlock"] = lambda n: raw_block(chain, n)
        self._failpoint = os.environ.get(FAILPOINT_SEALED)  # fault tests only
        self.url = url
        self.sealer = address_of(chain.key) if chain.key is not None else None
        self.lease_ttl = lease_ttl
        self.keeper = LeaseKeeper(
            etcd.endpoints, lease_ttl, lambda: (keys.node(node_id), self.status_json()), etcd.access
        )
        self._token_lease = 0
        self.producing = False
        self._token = b""
        self._demote: str | None = None
        self._resync = False
        self._nudge = asyncio.Event()
        self._producer_changed = True  # the producer key may have changed since last read
        self._pool: dict[bytes, PoolEntry] = {}
        self._pool_seen = 0  # etcd revision up to which the pool has been read
        self._behind = False  # etcd's lowest block is above head + 1 (see _follow)
        ballot = Ballot(keys.network, chain.genesis.chain_id, chain.genesis.sealers)
        self.judge = Judge(etcd, keys, node_id, ballot, chain.key, self.net)
        self.alarms = self.judge.alarms  # one list: refusals and forged marks
        self.sync = PeerSync(chain, etcd, keys, node_id, self.net)
        self.sync.alarms = self.alarms
        self.pruner = Pruner(etcd, keys, prune or PruneSettings(), node_id)

    @property
    def role(self) -> str:
        if self.follower:
            return "follower"
        return "producer" if self.producing else "replica"

    # -- the loop ---------------------------------------------------------------------------
    def _on_etcd_change(self, keys: list[bytes]) -> None:
        # An empty list means a watch (re)connected: anything may have changed meanwhile.
        if not keys or self.keys.producer in keys:
            self._producer_changed = True
        # A replica has nothing to do with new pool entries (only the producer reads them).
        if not keys or self.producing or any(k != self.keys.tick_pool for k in keys):
            self._nudge.set()

    async def produce_forever(self) -> None:
        self.keeper.start()
        # Small keys only (the producer, ticks written with every block and pool entry, votes):
        # watching blocks/ and pool/ would stream every transaction to every node twice.
        watches = [
            asyncio.create_task(watch_prefix(self.etcd, prefix, self._on_etcd_change))
            for prefix in (self.keys.producer, self.keys.ticks, self.keys.sub("rejected/"))
        ]
        try:
            while True:
                worked = False
                self._nudge.clear()
                try:
                    # A reason set last round (e.g. a refused commit) is the one to report.
                    if self.producing and self._demote is None:
                        if self.keeper.lease != self._token_lease:
                            self._demote = "lease expired"
                        elif not self.keeper.alive():
                            self._demote = "lost contact with etcd"
                    if self._demote is not None:
                        await self._step_down()
                    if self._resync and self.producing:
                        await self._resync_producer()
                    if self.producing:
                        worked = await self._produce_round()
                    else:
                        with self.calls.hold():  # a replica keeps up before it serves calls
                            worked = await self._follow()
                        if not worked and not self.follower:
                            await self._campaign()
                except OSError as exc:
                    # Transient (e.g. etcd electing a new leader): keep the role, but the last
                    # commit may or may not have landed, so resynchronise from etcd first.
                    log.warning("%s: etcd: %s", self.node_id, exc)
                    self._resync = True
                    await asyncio.sleep(0.2)
                except Exception:
                    log.exception("%s: replication loop", self.node_id)
                    self._resync = True
                    await asyncio.sleep(0.5)
                self.metrics.head.set(self.chain.head.number)
                if worked:
                    await asyncio.sleep(0)
                else:
                    try:
                        await asyncio.wait_for(self._nudge.wait(), IDLE_POLL_S)
                    except TimeoutError:
                        self._producer_changed = True  # the watch is the fast path only
        finally:
            for w in watches:
                w.cancel()

    def app(self) -> web.Application:
        app = super().app()

        async def release(_: web.Application) -> None:
            # Stop the loop first (it would otherwise go on with a closed etcd client), then
            # revoke the lease: a clean stop hands the producer role over at once instead of
            # after the TTL.
            if self._producer is not None:
                self._producer.cancel()
                await asyncio.gather(self._producer, return_exceptions=True)
            await asyncio.to_thread(self.keeper.stop)
            await self.etcd.close()
            await self.sync.close()

        app.on_shutdown.append(release)
        return app

    def status_json(self) -> bytes:
        return to_json(
            {
                "id": self.node_id,
                "url": self.url,
                "role": self.role,
                "height": self.chain.head.number,
                "head": "0x" + self.chain.head.hash.hex(),
                "sealer": "0x" + self.sealer.hex() if self.sealer else None,
                "alarms": self.alarms[-5:],
            }
        )

    async def _resync_producer(self) -> None:
        self._reset_pool()  # drops an unconfirmed proposal along with the local pool
        while await self._follow():  # our last block, if it did land
            pass
        current = await self.etcd.get(self.keys.producer)
        if current is None or current.value != self._token:
            self._demote = "lost the producer role"
        self._resync = False
        log.info("%s: resynchronised at height %d", self.node_id, self.chain.head.number)

    async def _step_down(self) -> None:
        reason, self._demote = self._demote, None
        if self.producing:
            log.warning("%s: no longer producing: %s", self.node_id, reason)
            with contextlib.suppress(OSError):  # hand the role over now if it is still ours
                await self.etcd.txn(
                    [cmp_value(self.keys.producer, self._token)], [op_delete(self.keys.producer)]
                )
        self.producing = False
        self._token = b""
        self.net.producer.set(0)
        self._reset_pool()

    def _reset_pool(self) -> None:
        """Drop the local pool: every acknowledged transaction is still in etcd's pool."""
        self._pool.clear()
        self._pool_seen = 0
        self.chain.drop_pool()

    async def _campaign(self) -> None:
        lease = self.keeper.lease
        if self.sealer is None or not self.keeper.alive():
            return
        # Ask etcd whether a producer exists only when the watch saw its key change (or
        # reconnected, or the idle poll fired): not after every block.
        if not self._producer_changed:
            return
        self._producer_changed = False  # before the read: a change during it sets it again
        current = await self.etcd.get(self.keys.producer)
        if current is not None:
            if self._names_me(current) and not self.producing:
                await self._release(current)
            return
        self._producer_changed = True  # none yet: keep trying until this node or another wins
        if await self.judge.is_faulty(self.sealer):
            return
        if await self._follow() or self._behind:
            return  # not caught up yet
        token = to_json(
            {
                "id": self.node_id,
                "url": self.url,
                "sealer": "0x" + self.sealer.hex(),
                "lease": lease,
            }
        )
        won = await self.etcd.txn(
            [cmp_absent(self.keys.producer)], [op_put(self.keys.producer, token, lease)]
        )
        if not won:
            return
        # The producer key was absent, so nobody could commit a block since _follow():
        # this node's head is etcd's head.
        self._reset_pool()
        self._token = token
        self._token_lease = lease
        self.producing = True
        self._last_block = 0.0
        self.net.producer.set(1)
        self.net.takeovers.inc()
        log.info("%s: producing from height %d", self.node_id, self.chain.head.number + 1)

    def _names_me(self, producer: KV) -> bool:
        try:
            return bool(from_json(producer.value).get("id") == self.node_id)
        except ValueError:
            return False

    async def _release(self, producer: KV) -> None:
        """Delete a producer key naming this node while it does not produce.

        It is left by a campaign whose reply was lost (a timeout, or a retry on another etcd
        member that found the key already put) or by a step-down whose delete failed: this
        node's lease keeps it alive, so no one else can take over, and this node would never
        produce under it. Fenced on its revision, so a newer key is left alone.
        """
        log.warning("%s: releasing a producer key it does not produce under", self.node_id)
        await self.etcd.txn(
            [cmp_mod(producer.key, producer.mod_revision)], [op_delete(producer.key)]
        )
        self._producer_changed = True  # campaign again at once, not after the watch

    # -- following ----------------------------------------------------------------------------
    async def _follow(self) -> bool:
        start = self.keys.block(self.chain.head.number + 1)
        kvs, _ = await self.etcd.range(start, prefix_end(self.keys.blocks), limit=32)
        # The next blocks were pruned from etcd while this node was away: from a peer. Until
        # it has them it must not campaign: its next height's key is absent from etcd, so a
        # producer's commit there would succeed and fork the chain.
        self._behind = bool(kvs) and height_of(kvs[0].key) > self.chain.head.number + 1
        if self._behind:
            return await self.sync.catch_up(height_of(kvs[0].key))
        applied = False
        for kv in kvs:
            height = height_of(kv.key)
            self.net.etcd_height.set(height)
            if height != self.chain.head.number + 1:
                break
            started = time.perf_counter()
            try:
                header, raws = decode_block(kv.value)
                self.chain.apply_block(header, raws)
            except (SealError, ValueError) as exc:
                await self._refuse(height, kv, exc)
                return False
            applied = True
            self.net.apply.observe(time.perf_counter() - started)
            log.debug(
                "%s: applied block %d (%d txs) in %.0f ms",
                self.node_id, height, len(raws), (time.perf_counter() - started) * 1000,
            )  # fmt: skip
            self.net.applied.inc()
            self.metrics.head.set(height)
            await self._notify(header)
            await asyncio.sleep(0)  # serve RPC between blocks
        return applied

    async def _notify(self, header: Header) -> None:
        """Queue the block for WebSocket subscribers (newHeads/logs); never waits on them."""
        try:
            self.subscriptions.publish(header)
        except Exception:
            log.exception("could not notify subscribers")

    async def _refuse(self, height: int, kv: KV, exc: Exception) -> None:
        await self.judge.refuse(height, kv, exc)
        await asyncio.sleep(0.2)

    # -- producing ----------------------------------------------------------------------------
    async def _admit_from_pool(self) -> None:
        # Entries newer than the last read, by etcd revision, not by key: two nodes' entries
        # may land in the opposite order of their keys (time stamps), and a key cursor would
        # then skip the one that landed second. Pool entries are written once, never updated.
        kvs, revision = await self.etcd.range(
            self.keys.pool, prefix_end(self.keys.pool), min_mod_revision=self._pool_seen + 1
        )
        self._pool_seen = revision
        for kv in kvs:
            if kv.key not in self._pool:
                try:
                    raws = decode_txs(kv.value)
                except ValueError as exc:  # dropped with the next block, like a spent entry
                    log.error("%s: ALARM: unreadable pool entry %r: %s", self.node_id, kv.key, exc)
                    raws = []
                self._pool[kv.key] = PoolEntry(raws)
        now = time.monotonic()
        for entry in self._pool.values():
            if not entry.waiting:
                continue
            keep = []
            for raw in entry.waiting:
                try:
                    entry.pending.add(self.chain.submit(raw))
                except (AdmissionError, NotAMember) as exc:
                    # A gap: an earlier nonce of the sender may still be on its way.
                    gap = exc.reason is Refusal.NONCE_TOO_HIGH
                    if gap and now - entry.since < PENDING_NONCE_WAIT_S:
                        keep.append(raw)
                    elif exc.reason is not Refusal.ALREADY_KNOWN:
                        log.info("%s: dropped a pool transaction: %s", self.node_id, exc)
            entry.waiting = keep
        self.chain.flush()

    def _stop_here(self, failpoint: str, number: int) -> None:
        try:
            os.unlink(failpoint)
        except FileNotFoundError:
            return
        log.warning("%s: failpoint: SIGSTOP before committing block %d", self.node_id, number)
        os.kill(os.getpid(), signal.SIGSTOP)

    async def _produce_round(self) -> bool:
        # The calls wait while this loop talks to etcd, so that each round trip does not
        # also wait for a call (calls.py); they run during the block time instead.
        with self.calls.hold():
            await self._admit_from_pool()
            if not self.chain.pool:
                return await self._drop_spent()
        wait = self.block_wait()
        if wait > 0:
            await asyncio.sleep(wait)
            return True
        with self.calls.hold():
            done = await self._seal_and_commit()
        try:
            await self.pruner.run_if_due(self.chain.head.number)
            self.net.pruned.set(self.pruner.pruned)
        except OSError as exc:  # pruning waits for the next pass; producing goes on
            log.warning("%s: pruning etcd: %s", self.node_id, exc)
        return done

    def _spent(self, limit: int) -> list[bytes]:
        """Up to ``limit`` pool entries whose transactions are all in blocks or dropped."""
        spent = (k for k, e in self._pool.items() if not e.pending and not e.waiting)
        return list(islice(spent, limit))

    async def _drop_spent(self) -> bool:
        """Delete spent pool entries from etcd while there is no block to take them along
        (a backlog of many small entries outgrows one block's transaction). Fenced on the
        producer key like a block."""
        done = self._spent(MAX_TXN_OPS)
        if not done:
            return False
        ok = await self.etcd.txn(
            [cmp_value(self.keys.producer, self._token)], [op_delete(k) for k in done]
        )
        if not ok:
            self._demote = "lost the producer role"
            return False
        for key in done:
            self._pool.pop(key, None)
        return True

    async def _seal_and_commit(self) -> bool:
        chain = self.chain
        started = time.perf_counter()
        # Membership at the state this block builds on: admission was only a first filter.
        dropped = {t.hash for t in chain.drop_non_members()}
        if dropped:
            log.warning(
                "%s: dropped %d pool transactions: their senders are no longer members",
                self.node_id, len(dropped),
            )  # fmt: skip
        proposal = chain.propose_block()
        included = dropped | {t.hash for t in proposal.txs} if proposal else dropped
        for entry in self._pool.values():
            entry.pending -= included
        # Spent entries leave etcd with the block; beyond etcd's limit on one transaction's
        # operations, with the next block or the next idle round (_drop_spent).
        done = self._spent(MAX_TXN_OPS - 2)
        if proposal is None:
            return False
        number = proposal.header.number
        blob = encode_block(proposal.header, [t.raw for t in proposal.txs])
        if self._failpoint:
            self._stop_here(self._failpoint, number)
        sealed = time.perf_counter()

        async def commit() -> tuple[bool, float]:
            ok = await self.etcd.txn(
                [cmp_absent(self.keys.block(number)), cmp_value(self.keys.producer, self._token)],
                [
                    op_put(self.keys.block(number), blob),
                    op_put(self.keys.tick_block, str(number).encode()),
                    *(op_delete(k) for k in done),
                ],
            )
            return ok, time.perf_counter()

        committing = asyncio.create_task(commit())
        # While etcd replicates this block, check the next block's transactions (decode,
        # signature, nonce): admission only appends to the pool behind this proposal, and a
        # failed commit drops the whole local pool (_reset_pool) anyway.
        with contextlib.suppress(OSError):
            await self._admit_from_pool()
        try:
            ok, acked = await committing
        except OSError:
            # Unknown whether it committed: resynchronise from etcd before going on.
            self._resync = True
            raise
        if not ok:
            self._demote = f"lost the producer role before block {number}"
            return False
        self.net.commit.observe(acked - sealed)
        chain.commit_block(proposal)
        log.debug(
            "%s: block %d, %d txs, built in %.0f ms, etcd commit %.0f ms",
            self.node_id, number, len(proposal.txs), (sealed - started) * 1000,
            (acked - sealed) * 1000,
        )  # fmt: skip
        for key in done:
            self._pool.pop(key, None)
        self._last_block = time.monotonic()
        ntx, self._counted = chain.tx_count - self._counted, chain.tx_count
        self.metrics.block(number, ntx, time.perf_counter() - started)
        self.net.etcd_height.set(number)
        self.metrics.pool.set(len(chain.pool))
        await self._notify(proposal.header)
        return True

"""A ledger node replicated through etcd: follower, candidate and producer in one loop.

* Every node applies the blocks stored in etcd in height order, re-executing each one
  (``Chain.apply_block``): a block whose seal, roots or state commitment differ is refused,
  with an ALARM log line, the ``alliance_blocks_refused`` metric and a ``rejected`` record.
  Once a majority of the other live nodes refused the same block, it and its descendants are
  removed, their transactions go back to the pool and their sealer is marked faulty.
* A transaction sent to any node is checked against that node's state, then written to the
  etcd pool before its hash is returned: an acknowledged transaction survives any node.
* The producer holds ``producer`` under its lease; it admits pool entries, seals a block and
  commits it with one etcd transaction: "block <h> absent and I am still the producer" ->
  put the block and delete the pool entries it consumed. Only then does it store the block.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from ledger_node.block import Header, SealError, address_of
from ledger_node.chain import AdmissionError, Chain
from ledger_node.clients import client_of
from ledger_node.limits import RpcLimits
from ledger_node.network.etcd import (
    KV,
    Etcd,
    cmp_absent,
    cmp_mod,
    cmp_value,
    op_delete,
    op_delete_prefix,
    op_put,
    prefix_end,
    watch_prefix,
)
from ledger_node.network.layout import (
    Keys,
    decode_block,
    decode_txs,
    encode_block,
    encode_txs,
    from_json,
    height_of,
    to_json,
)
from ledger_node.network.lease import LeaseKeeper
from ledger_node.permission import NotAMember
from ledger_node.refusal import Refusal
from ledger_node.rpc import RpcError, h, p_bytes, refused
from ledger_node.server import Node, too_big
from ledger_node.txcodec import TxError, intrinsic_gas

log = logging.getLogger("ledger_node.network")
IDLE_POLL_S = 0.5  # a watch on etcd wakes the loop; this is only the fallback
PENDING_NONCE_WAIT_S = 30.0  # how long a "nonce too high" pool tx waits for its predecessor
MAX_BLOCK_BYTES = 8 * 1024 * 1024
# Transactions per etcd pool entry when a batch is forwarded. Smaller chunks overlap more of
# the etcd write with checking, but every entry is one more etcd write, watch event and read:
# on this 2-core machine 100 vs 500 made no difference measurable above the noise.
FORWARD_CHUNK = 500
# Fault-test failpoint: when this variable names a file, the producer that deletes it (so
# only one, once) stops its own process with SIGSTOP after sealing a block and before
# committing it to etcd (tests/network/test_faults.py, the compare-and-swap fence).
FAILPOINT_SEALED = "ALLIANCE_FAILPOINT_SEALED"
# The transactions collected by the HTTP request being answered (contextvars: requests are
# concurrent tasks, and a batch awaits between its chunks).
_collect: contextvars.ContextVar[list[bytes] | None] = contextvars.ContextVar(
    "collect", default=None
)


@dataclass
class PoolEntry:
    waiting: list[bytes]  # not yet admitted (e.g. nonce too high for now)
    pending: set[bytes] = field(default_factory=set)  # admitted, not yet in a block
    since: float = field(default_factory=time.monotonic)


class NetworkMetrics:
    def __init__(self, node: Node) -> None:
        r = node.metrics.registry
        self.producer = Gauge("alliance_is_producer", "1 while this node produces", registry=r)
        self.refused = Counter(
            "alliance_blocks_refused", "Blocks refused on re-execution (ALARM)", registry=r
        )
        self.removed = Counter(
            "alliance_blocks_removed", "Refused blocks removed from etcd by quorum", registry=r
        )
        self.takeovers = Counter(
            "alliance_takeovers", "Times this node became producer", registry=r
        )
        self.etcd_height = Gauge(
            "alliance_etcd_height", "Height of the last block seen in etcd", registry=r
        )
        self.applied = Counter("alliance_blocks_applied", "Blocks applied from etcd", registry=r)
        self.commit = Histogram(
            "alliance_block_commit_seconds",
            "Producer: seal to etcd commit acknowledged",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
        )
        self.apply = Histogram(
            "alliance_block_apply_seconds",
            "Re-execute, verify and store a block from etcd",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.forwarded = Counter(
            "alliance_transactions_forwarded", "Transactions written to the etcd pool", registry=r
        )


class ReplicaNode(Node):
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
    ) -> None:
        super().__init__(chain, block_time_ms, cut_txs, limits)
        chain.pool_in_store = False  # acknowledged transactions are durable in etcd's pool
        self._failpoint = os.environ.get(FAILPOINT_SEALED)  # fault tests only
        self.etcd, self.keys, self.node_id, self.url = etcd, keys, node_id, url
        self.follower = follower or chain.key is None
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
        self._stamp = 0
        self._refused: dict[int, int] = {}  # height -> mod revision already reported
        self.alarms: list[str] = []
        self.net = NetworkMetrics(self)
        self.methods.table["eth_sendRawTransaction"] = self.forward_transaction

    @property
    def role(self) -> str:
        if self.follower:
            return "follower"
        return "producer" if self.producing else "replica"

    # -- transactions: check locally, make durable in etcd, then acknowledge ----------------
    def forward_transaction(self, raw: Any) -> str:
        data = p_bytes(raw, "transaction")
        chain = self.chain
        try:
            tx = chain.txcache.decode(data)
        except TxError as exc:
            raise refused(Refusal.INVALID, str(exc)) from None
        if tx.chain_id != chain.genesis.chain_id:
            raise refused(Refusal.WRONG_CHAIN, f"wrong chain id {tx.chain_id}")
        if not chain.permissions.admits(chain.engine, tx.sender):
            message = f"sender 0x{tx.sender.hex()} is not an alliance member"
            raise refused(Refusal.NOT_MEMBER, message)
        if tx.nonce < chain.nonce_of(tx.sender):
            message = f"nonce too low: next nonce {chain.nonce_of(tx.sender)}"
            raise refused(Refusal.NONCE_TOO_LOW, message)
        if tx.gas < intrinsic_gas(tx) or tx.gas > chain.genesis.block_gas_limit:
            raise refused(Refusal.GAS_LIMIT, "gas outside intrinsic gas .. block gas limit")
        if self.follower:
            message = "read-only follower: send transactions to a member's node"
            raise refused(Refusal.READ_ONLY, message)
        collect = _collect.get()
        if collect is None:
            raise RpcError(-32603, "transactions are accepted over HTTP only")
        collect.append(data)
        chain.txcache.remember(tx)  # admitted here if producing, else verified in a block
        return h(tx.hash)

    async def handle(self, request: web.Request) -> web.Response:
        client = client_of(request)
        doc, error = self.parse(await request.read(), client)
        if error is not None:
            return web.json_response(error)
        refusal = too_big(doc, self.limits)
        if refusal is not None:
            return web.json_response(refusal)
        batch = isinstance(doc, list)
        reqs: list[Any] = doc if batch else [doc]
        # A batch's transactions go to etcd's pool in chunks, in order: each chunk's write
        # is under way while the next chunk is checked. The response, with every hash, is
        # sent only once all of them are durable (a failed chunk fails its requests). The
        # calls run in the node's call queue (calls.py), a chunk per job.
        outs: list[dict[str, Any]] = []
        puts: list[tuple[asyncio.Task[None], list[int]]] = []
        previous: asyncio.Task[None] | None = None
        for start in range(0, len(reqs), FORWARD_CHUNK):
            chunk = reqs[start : start + FORWARD_CHUNK]
            collected: list[bytes] = []
            token = _collect.set(collected)  # the queue runs the job in this context
            try:
                replies = await self.calls.run(chunk, client)
            finally:
                _collect.reset(token)
            sent = [_sent(q, r) for q, r in zip(chunk, replies, strict=True)]
            members = [start + i for i, ok in enumerate(sent) if ok]
            outs += replies
            if collected:
                previous = asyncio.create_task(self._make_durable(collected, previous))
                puts.append((previous, members))
        for task, idxs in puts:
            try:
                await task
            except Exception as exc:  # not durable anywhere: the senders must not see a hash
                if not isinstance(exc, OSError):
                    log.exception("%s: making transactions durable failed", self.node_id)
                for k in idxs:
                    outs[k].pop("result", None)
                    outs[k]["error"] = {"code": -32000, "message": f"ordering unavailable: {exc}"}
        return self.encode(outs if batch else outs[0], client)

    async def _make_durable(self, raws: list[bytes], previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # after the batch's earlier chunk, and only if that one landed
        self._stamp = max(time.time_ns(), self._stamp + 1)
        await self.etcd.txn(
            [],
            [
                op_put(self.keys.pool_entry(self._stamp, self.node_id), encode_txs(raws)),
                op_put(self.keys.tick_pool, self.node_id.encode()),
            ],
        )
        self.net.forwarded.inc(len(raws))

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
        self.chain.reload()
        if self.chain.pool:
            self.chain.store.begin()
            self.chain.store.pool_remove_upto(self.chain.pool[-1].seq)
            self.chain.store.commit()
            self.chain.reload()

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
        if await self.etcd.get(self.keys.faulty(self.sealer)) is not None:
            return
        if await self._follow():
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
        try:
            header, raws = decode_block(kv.value)
            sealer = header.coinbase
            block_hash = header.hash.hex()
        except ValueError:
            sealer, block_hash, raws = b"", "", []
        if self._refused.get(height) != kv.mod_revision:
            self._refused[height] = kv.mod_revision
            msg = f"ALARM: refusing block {height} sealed by 0x{sealer.hex()}: {exc}"
            log.error("%s: %s", self.node_id, msg)
            self.alarms.append(msg)
            self.net.refused.inc()
            vote = {
                "voter": "0x" + self.sealer.hex() if self.sealer else None,
                "rev": kv.mod_revision,
                "hash": block_hash,
                "sealer": "0x" + sealer.hex(),
                "reason": str(exc),
            }
            await self.etcd.put(self.keys.rejected(height, self.node_id), to_json(vote))
        await self._remove_if_quorum(height, kv, sealer, raws)
        await asyncio.sleep(0.2)

    async def _remove_if_quorum(
        self, height: int, kv: KV, sealer: bytes, raws: list[bytes]
    ) -> None:
        votes, _ = await self.etcd.range(
            self.keys.rejected(height), prefix_end(self.keys.rejected(height))
        )
        # Only the other sealers vote (a static set from genesis): a minority of members,
        # or followers, cannot remove a block. Followers still refuse it and raise alarms.
        voters = {"0x" + a.hex() for a in self.chain.genesis.sealers if a != sealer}
        agree = len(
            {
                v["voter"]
                for v in (from_json(kv_.value) for kv_ in votes)
                if v.get("rev") == kv.mod_revision and v.get("voter") in voters
            }
        )
        if not voters or agree < len(voters) // 2 + 1:
            return
        later, _ = await self.etcd.range(self.keys.block(height), prefix_end(self.keys.blocks))
        compare = [cmp_mod(b.key, b.mod_revision) for b in later]
        ops: list[dict[str, Any]] = [op_delete(b.key) for b in later]
        for b in later:  # their transactions were acknowledged: back into the pool
            try:
                _, txs = decode_block(b.value)
            except ValueError:
                continue
            if txs:
                self._stamp = max(time.time_ns(), self._stamp + 1)
                ops.append(
                    op_put(
                        self.keys.pool_entry(self._stamp, f"requeued-{height_of(b.key)}"),
                        encode_txs(txs),
                    )
                )
        why = {"height": height, "by": self.node_id, "votes": agree, "voters": len(voters)}
        ops.append(op_put(self.keys.faulty(sealer), to_json(why)))
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
                "%s: ALARM: removed blocks %d..%d sealed by faulty 0x%s (%d of %d nodes refused)",
                self.node_id, height, height + len(later) - 1, sealer.hex(), agree, len(voters),
            )  # fmt: skip

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
            return False
        wait = self.block_wait()
        if wait > 0:
            await asyncio.sleep(wait)
            return True
        with self.calls.hold():
            return await self._seal_and_commit()

    async def _seal_and_commit(self) -> bool:
        chain = self.chain
        started = time.perf_counter()
        proposal = chain.propose_block()
        if proposal is None:
            return False
        included = {t.hash for t in proposal.txs}
        done = []
        for key, entry in self._pool.items():
            entry.pending -= included
            if not entry.pending and not entry.waiting:
                done.append(key)
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


def _sent(req: Any, reply: dict[str, Any]) -> bool:
    """Whether this call handed a transaction to the batch's etcd write."""
    return (
        isinstance(req, dict)
        and req.get("method") == "eth_sendRawTransaction"
        and "result" in reply
    )

"""A node that forwards transactions to etcd's pool: check locally, make durable, then answer.

A transaction sent to any member's node is checked against that node's state (signature,
chain id, membership, nonce not too low, gas), written to etcd's ``pool/`` (a Raft majority)
and only then acknowledged with its hash, so it survives the loss of any node. A batch's
transactions go to etcd in ordered chunks, each written while the next is checked.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

from aiohttp import web

from ledger_node.chain import Chain
from ledger_node.clients import client_of
from ledger_node.limits import RpcLimits
from ledger_node.network.etcd import Etcd, op_put
from ledger_node.network.layout import Keys, encode_txs
from ledger_node.network.metrics import NetworkMetrics
from ledger_node.refusal import Refusal
from ledger_node.rpc import RpcError, h, p_bytes, refused
from ledger_node.server import Node, too_big
from ledger_node.txcodec import TxError, intrinsic_gas

log = logging.getLogger("ledger_node.network")
# Transactions per etcd pool entry when a batch is forwarded. Smaller chunks overlap more of
# the etcd write with checking, but every entry is one more etcd write, watch event and read:
# on this 2-core machine 100 vs 500 made no difference measurable above the noise.
FORWARD_CHUNK = 500
# The transactions collected by the HTTP request being answered (contextvars: requests are
# concurrent tasks, and a batch awaits between its chunks).
_collect: contextvars.ContextVar[list[bytes] | None] = contextvars.ContextVar(
    "collect", default=None
)


class Forwarder(Node):
    def __init__(
        self,
        chain: Chain,
        etcd: Etcd,
        keys: Keys,
        node_id: str,
        follower: bool,
        block_time_ms: int | None,
        cut_txs: int | None,
        limits: RpcLimits | None,
    ) -> None:
        super().__init__(chain, block_time_ms, cut_txs, limits)
        chain.keep_pool_in_memory()  # acknowledged transactions are durable in etcd's pool
        self.etcd, self.keys, self.node_id = etcd, keys, node_id
        # A node without a sealer key (a member admitted after genesis) still forwards its
        # members' transactions; only --follower (the regulator) refuses them.
        self.follower = follower
        self.net = NetworkMetrics(self)
        self._stamp = 0  # pool entry keys: nanoseconds, strictly increasing per node
        self.methods.table["eth_sendRawTransaction"] = self.forward_transaction

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
            idempotent=True,  # the same entry under the same key: a second put changes nothing
        )
        self.net.forwarded.inc(len(raws))


def _sent(req: Any, reply: dict[str, Any]) -> bool:
    """Whether this call handed a transaction to the batch's etcd write."""
    return (
        isinstance(req, dict)
        and req.get("method") == "eth_sendRawTransaction"
        and "result" in reply
    )

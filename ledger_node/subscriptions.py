"""WebSocket JSON-RPC on the same port (GET / with an upgrade): every HTTP method, plus
``eth_subscribe`` for ``newHeads`` and ``logs`` (address/topics filter) and ``eth_unsubscribe``.
Notifications follow geth's shape: ``{"method": "eth_subscription", "params":
{"subscription": ID, "result": ...}}``; new heads carry the block without transactions.

Everything a socket is sent (replies and notifications) goes through its ``Outbox``: a
bounded queue drained (and JSON-encoded) by the socket's own task. The producer only reads the
block's logs once and queues, so a client that stops reading delays nobody; once its queue
is full it is dropped (close code 1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ledger_node.block import Header
from ledger_node.clients import LIMIT_EXCEEDED, client_of
from ledger_node.rpc import RpcError, parse_log_filter
from ledger_node.store import LogRow

if TYPE_CHECKING:
    from ledger_node.server import Node

POLICY_VIOLATION = 1008  # WebSocket close code for a subscriber dropped as too slow
CLOSE_TIMEOUT_S = 1.0
log = logging.getLogger("ledger_node")


class Outbox:
    """One socket's outgoing messages; ``put`` never waits."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, size: int) -> None:
        self.ws, self.request = ws, request
        self.queue: asyncio.Queue[Any] = asyncio.Queue(size)
        self.dropped = False
        self._closing: asyncio.Task[None] | None = None
        self._task = asyncio.create_task(self._drain())

    def put(self, message: Any) -> bool:
        """Queue a JSON-RPC message (encoded by the drain task, not by the caller)."""
        if self.dropped:
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drop(f"too slow: {self.queue.maxsize} messages waiting")
            return False
        return True

    async def _drain(self) -> None:
        while True:
            message = await self.queue.get()
            try:
                await self.ws.send_str(json.dumps(message))
            except (ConnectionError, RuntimeError):
                self.dropped = True
                return

    def drop(self, why: str) -> None:
        """Stop sending and close with 1008; a client that reads nothing cannot even take
        the close frame, so its connection is aborted after ``CLOSE_TIMEOUT_S``."""
        if self.dropped:
            return
        self.dropped = True
        self._task.cancel()
        log.info("dropping WebSocket client %s: %s", client_of(self.request), why)
        self._closing = asyncio.create_task(self._close(why))

    async def _close(self, why: str) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(
                self.ws.close(code=POLICY_VIOLATION, message=why.encode()[:120]), CLOSE_TIMEOUT_S
            )
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def stop(self) -> None:
        self._task.cancel()


@dataclass
class Subscription:
    out: Outbox
    client: str
    kind: str  # "newHeads" | "logs"
    addresses: list[bytes]
    topics: list[list[bytes] | None]


class Subscriptions:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.subs: dict[str, Subscription] = {}
        self.per_client: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        limits = self.node.limits
        ws = web.WebSocketResponse(max_msg_size=limits.max_body_bytes, heartbeat=30)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="POST JSON-RPC here, or open a WebSocket\n")
        await ws.prepare(request)
        out = Outbox(ws, request, limits.ws_queue)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = await self._on_message(out, client_of(request), msg.data)
                if not out.put(reply):
                    break
        finally:
            out.stop()
            for sid in [s for s, sub in self.subs.items() if sub.out is out]:
                self._remove(sid)
        return ws

    def _remove(self, sid: str) -> Subscription | None:
        sub = self.subs.pop(sid, None)
        if sub is not None:
            self.per_client[sub.client] -= 1
            if not self.per_client[sub.client]:
                del self.per_client[sub.client]
        return sub

    async def _on_message(self, out: Outbox, client: str, text: str) -> Any:
        cpu = time.thread_time()
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32700, "message": "Parse error"},
            }
        finally:  # the client's time, as over HTTP (Node.handle)
            self.node.calls.charge(client, time.thread_time() - cpu)
        if isinstance(doc, dict) and doc.get("method") in ("eth_subscribe", "eth_unsubscribe"):
            return self._subscription_call(out, client, doc)
        return await self.node.respond(doc, client)

    def _subscription_call(self, out: Outbox, client: str, req: dict[str, Any]) -> Any:
        id_, params = req.get("id"), req.get("params") or []
        try:
            if not isinstance(params, list) or not params:
                raise RpcError(-32602, "params must be a non-empty array")
            if req["method"] == "eth_unsubscribe":
                sub = self.subs.get(str(params[0]))
                ok = sub is not None and sub.out is out
                if ok:
                    self._remove(str(params[0]))
                return {"jsonrpc": "2.0", "id": id_, "result": ok}
            kind = params[0]
            if kind not in ("newHeads", "logs"):
                raise RpcError(-32602, f"unsupported subscription {kind!r} (newHeads, logs)")
            cap = self.node.limits.max_subscriptions_per_client
            if self.per_client[client] >= cap:
                raise RpcError(
                    LIMIT_EXCEEDED,
                    f"too many subscriptions from {client}: at most {cap} per client address",
                )
            flt = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
            addrs, topics = parse_log_filter(flt) if kind == "logs" else ([], [])
            sid = "0x" + secrets.token_hex(16)
            self.subs[sid] = Subscription(out, client, kind, addrs, topics)
            self.per_client[client] += 1
            return {"jsonrpc": "2.0", "id": id_, "result": sid}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": id_, "error": exc.to_json()}

    def publish(self, header: Header) -> None:
        """Queue a new block for every subscriber (called by the producer after each block);
        never waits for a socket."""
        if not self.subs:
            return
        methods = self.node.methods
        head: dict[str, Any] | None = None
        logs: list[tuple[LogRow, dict[str, Any]]] | None = None
        for sid, sub in list(self.subs.items()):
            if sub.out.dropped or sub.out.ws.closed:
                self._remove(sid)
                continue
            if sub.kind == "newHeads":
                if head is None:
                    head = methods.block_json(header, False)
                    head.pop("transactions", None)
                items: list[Any] = [head]
            else:
                if logs is None:  # the block's logs once, however many subscribers
                    n = header.number
                    rows = self.node.chain.store.query_logs(n, n, [], [], 1 << 62)
                    logs = list(zip(rows, methods.logs_json(rows), strict=True))
                items = [j for row, j in logs if matches(row, sub.addresses, sub.topics)]
            for item in items:
                note = {"jsonrpc": "2.0", "method": "eth_subscription",
                        "params": {"subscription": sid, "result": item}}  # fmt: skip
                if not sub.out.put(note):
                    self._remove(sid)
                    break


def matches(row: LogRow, addresses: list[bytes], topics: list[list[bytes] | None]) -> bool:
    """A log filter as eth_getLogs applies it: any of the addresses, and at each topic
    position None (anything) or any of the listed topics."""
    if addresses and row.address not in addresses:
        return False
    for i, alts in enumerate(topics):
        if alts is not None and (i >= len(row.topics) or row.topics[i] not in alts):
            return False
    return True

"""WebSocket JSON-RPC on the same port (GET / with an upgrade): every HTTP method, plus
``eth_subscribe`` for ``newHeads`` and ``logs`` (address/topics filter) and ``eth_unsubscribe``.
Notifications follow geth's shape: ``{"method": "eth_subscription", "params":
{"subscription": ID, "result": ...}}``; new heads carry the block without transactions.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ledger_node.block import Header
from ledger_node.rpc import RpcError, parse_log_filter

if TYPE_CHECKING:
    from ledger_node.server import Node

MAX_SUBSCRIPTIONS_PER_SOCKET = 64
log = logging.getLogger("ledger_node")


@dataclass
class Subscription:
    ws: web.WebSocketResponse
    kind: str  # "newHeads" | "logs"
    addresses: list[bytes]
    topics: list[list[bytes] | None]


class Subscriptions:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.subs: dict[str, Subscription] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024, heartbeat=30)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="POST JSON-RPC here, or open a WebSocket\n")
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._on_message(ws, msg.data)
                await ws.send_str(json.dumps(reply))
        finally:
            for sid in [s for s, sub in self.subs.items() if sub.ws is ws]:
                del self.subs[sid]
        return ws

    def _on_message(self, ws: web.WebSocketResponse, text: str) -> Any:
        try:
            doc = json.loads(text)
        except ValueError:
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32700, "message": "Parse error"},
            }
        if isinstance(doc, dict) and doc.get("method") in ("eth_subscribe", "eth_unsubscribe"):
            return self._subscription_call(ws, doc)
        return self.node.respond(doc)

    def _subscription_call(self, ws: web.WebSocketResponse, req: dict[str, Any]) -> Any:
        id_, params = req.get("id"), req.get("params") or []
        try:
            if not isinstance(params, list) or not params:
                raise RpcError(-32602, "params must be a non-empty array")
            if req["method"] == "eth_unsubscribe":
                sub = self.subs.get(str(params[0]))
                ok = sub is not None and sub.ws is ws
                if ok:
                    del self.subs[str(params[0])]
                return {"jsonrpc": "2.0", "id": id_, "result": ok}
            kind = params[0]
            if kind not in ("newHeads", "logs"):
                raise RpcError(-32602, f"unsupported subscription {kind!r} (newHeads, logs)")
            if sum(1 for s in self.subs.values() if s.ws is ws) >= MAX_SUBSCRIPTIONS_PER_SOCKET:
                raise RpcError(-32005, "too many subscriptions on this connection")
            flt = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
            addrs, topics = parse_log_filter(flt) if kind == "logs" else ([], [])
            sid = "0x" + secrets.token_hex(16)
            self.subs[sid] = Subscription(ws, kind, addrs, topics)
            return {"jsonrpc": "2.0", "id": id_, "result": sid}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": id_, "error": exc.to_json()}

    async def publish(self, header: Header) -> None:
        """Push a new block to every subscriber (called by the producer after each block)."""
        if not self.subs:
            return
        methods = self.node.methods
        head: dict[str, Any] | None = None
        for sid, sub in list(self.subs.items()):
            if sub.ws.closed:
                self.subs.pop(sid, None)
                continue
            if sub.kind == "newHeads":
                if head is None:
                    head = methods.block_json(header, False)
                    head.pop("transactions", None)
                items: list[Any] = [head]
            else:
                rows = self.node.chain.store.query_logs(
                    header.number, header.number, sub.addresses, sub.topics, 100_000
                )
                items = methods.logs_json(rows)
            for item in items:
                note = {"jsonrpc": "2.0", "method": "eth_subscription",
                        "params": {"subscription": sid, "result": item}}  # fmt: skip
                try:
                    await sub.ws.send_str(json.dumps(note))
                except (ConnectionError, RuntimeError):
                    self.subs.pop(sid, None)
                    break

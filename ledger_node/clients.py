"""Per-client-address caps: connections in use (HTTP requests in flight, open WebSockets).

An idle keep-alive connection costs nothing here; a request does (its body, its calls in the
queue), and a WebSocket holds a queue and subscriptions for its life. So a client address
may have ``limit`` of those at once; one more gets HTTP 429 with a JSON-RPC error.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from aiohttp.typedefs import Handler

LIMIT_EXCEEDED = -32005  # EIP-1474: limit exceeded


def client_of(request: web.Request) -> str:
    return request.remote or "unknown"


class PerClient:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: Counter[str] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        client = client_of(request)
        if self.active[client] >= self.limit:
            return web.json_response(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": LIMIT_EXCEEDED,
                        "message": f"too many connections from {client}: this node serves "
                        f"{self.limit} requests or WebSockets at once per client address",
                    },
                },
                status=429,
            )
        self.active[client] += 1
        try:
            return await handler(request)
        finally:
            self.active[client] -= 1
            if not self.active[client]:
                del self.active[client]

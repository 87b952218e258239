"""The one JSON-RPC transport: every HTTP JSON-RPC call of the node tools, the sharing API and
web3 (``sharing_api.chain.provider``) goes through ``JsonRpc``.

Keep-alive HTTP/1.1 over the stdlib ``http.client``, one connection per thread (a connection
is not thread-safe), all closed by ``close()``. Measured against the ledger node, client CPU
per eth_call: ``http.client`` ~0.11 ms, httpx ~0.39 ms, web3 1-5 ms; the API's fetch path
makes an eth_call per request, so the transport uses the cheapest. A keep-alive connection
the server closed while idle is reopened once, transparently.

A node serves a bounded number of requests at once per client address (the node's
``max_connections_per_client``, 64 by default) and answers HTTP 429 beyond. So a process
keeps at most ``MAX_IN_FLIGHT`` requests in flight per endpoint, across all its transports
and threads, and queues the rest: a busy gateway waits its turn instead of failing.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from ledger_node.jsonrpc.errors import BadReply, ChainTimeout, ChainUnavailable, rpc_error

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
_HEADERS = {"Content-Type": "application/json"}
MAX_IN_FLIGHT = 32  # half the node's default per-client cap: room for other tools and sockets
_in_flight: dict[tuple[str, int | None], threading.BoundedSemaphore] = {}
_in_flight_guard = threading.Lock()


def _slots(host: str, port: int | None) -> threading.BoundedSemaphore:
    with _in_flight_guard:
        return _in_flight.setdefault((host, port), threading.BoundedSemaphore(MAX_IN_FLIGHT))


class JsonRpc:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) JSON-RPC URL: {url}")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path or "/"
        if parts.query:
            self._path += "?" + parts.query
        self._slots = _slots(self._host, self._port)
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._guard = threading.Lock()

    def call(self, method: str, params: list[Any]) -> Any:
        """One request; its ``result``, or the typed ``RpcError`` the node's error maps to."""
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        reply = self.exchange(_encode(request))
        if not isinstance(reply, dict):
            raise BadReply(f"chain endpoint {self.url}: unexpected reply {reply!r:.300}")
        if "error" in reply:
            raise rpc_error(reply["error"])
        return reply.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """One HTTP request carrying several calls; per call, in call order, its ``result``
        or its typed ``RpcError`` (returned, not raised: the others may have succeeded)."""
        if not calls:
            return []
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        reply = self.exchange(_encode(body))
        if not isinstance(reply, list) or len(reply) != len(calls):
            raise BadReply(f"chain endpoint {self.url} refused a batch: {reply!r:.300}")
        out: list[Any] = [None] * len(calls)
        for item in reply:
            index = item.get("id") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(calls):
                raise BadReply(f"chain endpoint {self.url}: batch reply {item!r:.200}")
            out[index] = rpc_error(item["error"]) if "error" in item else item.get("result")
        return out

    def exchange(self, body: bytes) -> Any:
        """POST one encoded request or batch; the parsed JSON reply as it came (for callers
        that encode themselves, e.g. web3's provider, and read errors themselves)."""
        if not self._slots.acquire(timeout=self.timeout):
            raise ChainTimeout(
                f"chain endpoint {self.url}: {MAX_IN_FLIGHT} requests of this process in "
                f"flight for {self.timeout} s; none finished"
            )
        try:
            return self._exchange(body)
        finally:
            self._slots.release()

    def _exchange(self, body: bytes) -> Any:
        for attempt in range(2):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request("POST", self._path, body, _HEADERS)
                response = conn.getresponse()
                data = response.read()
            except _STALE as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: reopen
                raise ChainUnavailable(f"chain endpoint {self.url} unreachable: {exc}") from exc
            except TimeoutError as exc:
                conn.close()  # a late answer must not be read as the next call's
                raise ChainTimeout(
                    f"chain endpoint {self.url}: no answer within {self.timeout} s"
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise ChainUnavailable(f"chain endpoint {self.url} unreachable: {exc}") from exc
            if response.status != 200:
                raise BadReply(
                    f"chain endpoint {self.url}: HTTP {response.status} {data[:200]!r}",
                    response.status,
                )
            try:
                return json.loads(data)
            except ValueError as exc:
                raise BadReply(f"chain endpoint {self.url}: not JSON: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every thread's connection (a later call reopens its own)."""
        with self._guard:
            for conn in self._all:
                conn.close()

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn


def _encode(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()

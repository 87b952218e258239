"""Waiting for the next block: a ``newHeads`` WebSocket subscription on the JSON-RPC port (our
node, anvil, geth and Besu all serve one), or plain sleeping where there is none.

Pushed heads let a waiter ask for receipts once per block instead of polling every few
milliseconds: on the ledger node that was most of the requests the API sent while busy.
With a ``logs`` filter the matching logs of each new block are pushed too, so a waiter
whose transactions emitted them needs no receipt round trip at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)
RETRY_LOST_S = 5.0  # a lost subscription (node restarted) is tried again after this
RETRY_ABSENT_S = 300.0  # an endpoint that offers none is polled, and asked again rarely


class HeadWaiter:
    def __init__(
        self,
        url: str,
        *,
        logs: dict[str, Any] | None = None,
        fallback_s: float = 0.005,
        max_wait_s: float = 0.25,
    ) -> None:
        """``logs``: an eth_subscribe logs filter (address, topics) whose logs ``wait``
        returns; ``fallback_s``: sleep per wait without a subscription; ``max_wait_s``:
        longest wait for a head (a missed notification costs at most that)."""
        self.ws_url = "ws" + url.removeprefix("http") if url.startswith("http") else ""
        self.log_filter = logs
        self.fallback_s = fallback_s
        self.max_wait_s = max_wait_s
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._retry_at = 0.0  # no subscription before then (none offered, or it was lost)
        self._heads_id = ""
        self._logs_id = ""

    @property
    def subscribed(self) -> bool:
        return self._ws is not None

    def wait(self) -> list[dict[str, Any]]:
        """Return once a new head arrived since the last call (at once if one already has),
        or after ``max_wait_s``; without a subscription, after ``fallback_s``. Returns the
        logs matching the filter that were pushed meanwhile (never removed ones)."""
        ws = self._connection()
        if ws is None:
            time.sleep(self.fallback_s)
            return []
        found: list[dict[str, Any]] = []
        try:
            head = False
            while True:  # drain what arrived meanwhile
                try:
                    head |= self._take(ws.recv(timeout=0), found)
                except TimeoutError:
                    break
            deadline = time.monotonic() + self.max_wait_s
            while not head and (left := deadline - time.monotonic()) > 0:
                try:
                    head = self._take(ws.recv(timeout=left), found)
                except TimeoutError:
                    break
        except (WebSocketException, OSError, ValueError) as exc:
            log.warning("newHeads subscription lost (%s): polling for a while", exc)
            self.close()
            self._retry_at = time.monotonic() + RETRY_LOST_S
        return found

    def close(self) -> None:
        self._ws = None
        self._stack.close()

    def _take(self, message: str | bytes, found: list[dict[str, Any]]) -> bool:
        """Sort one notification: True for a head; matching logs go to ``found``."""
        params = json.loads(message).get("params") or {}
        sid, result = params.get("subscription"), params.get("result")
        if sid == self._logs_id and isinstance(result, dict) and not result.get("removed"):
            found.append(result)
        return bool(sid) and sid == self._heads_id

    def _subscribe(self, ws: ClientConnection, params: list[Any]) -> str:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                            "params": params}))  # fmt: skip
        while True:  # notifications of an earlier subscription may come first
            reply = json.loads(ws.recv(timeout=5))
            if reply.get("id") == 1:
                break
        if "result" not in reply:
            raise ValueError(f"eth_subscribe refused: {reply.get('error')}")
        return str(reply["result"])

    def _connection(self) -> ClientConnection | None:
        if self._ws is not None or not self.ws_url or time.monotonic() < self._retry_at:
            return self._ws
        try:
            ws = self._stack.enter_context(connect(self.ws_url, open_timeout=5, max_size=2**24))
            # Logs first: our node then pushes a block's logs before its head.
            if self.log_filter is not None:
                self._logs_id = self._subscribe(ws, ["logs", self.log_filter])
            self._heads_id = self._subscribe(ws, ["newHeads"])
        except (WebSocketException, OSError, ValueError) as exc:
            log.info("no newHeads subscription at %s (%s): polling", self.ws_url, exc)
            self._stack.close()
            self._retry_at = time.monotonic() + RETRY_ABSENT_S
            return None
        self._ws = ws
        return ws

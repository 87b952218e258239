"""Waiting for the next block: a ``newHeads`` WebSocket subscription on the JSON-RPC port (our
node, anvil, geth and Besu all serve one), or plain sleeping where there is none.

Pushed heads let a waiter ask for receipts once per block instead of polling every few
milliseconds: on the ledger node that was most of the requests the API sent while busy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)


class HeadWaiter:
    def __init__(self, url: str, *, fallback_s: float = 0.005, max_wait_s: float = 0.25) -> None:
        """``fallback_s``: sleep per wait without a subscription; ``max_wait_s``: longest
        wait for a head (a missed notification costs at most that)."""
        self.ws_url = "ws" + url.removeprefix("http") if url.startswith("http") else ""
        self.fallback_s = fallback_s
        self.max_wait_s = max_wait_s
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._tried = False

    @property
    def subscribed(self) -> bool:
        return self._ws is not None

    def wait(self) -> None:
        """Return once a new head arrived since the last call (at once if one already has),
        or after ``max_wait_s``; without a subscription, after ``fallback_s``."""
        ws = self._connection()
        if ws is None:
            time.sleep(self.fallback_s)
            return
        try:
            seen = False
            while True:  # drain what arrived meanwhile
                try:
                    ws.recv(timeout=0)
                    seen = True
                except TimeoutError:
                    break
            if not seen:
                with contextlib.suppress(TimeoutError):
                    ws.recv(timeout=self.max_wait_s)
        except (WebSocketException, OSError) as exc:
            log.warning("newHeads subscription lost (%s): polling instead", exc)
            self.close()

    def close(self) -> None:
        self._ws = None
        self._stack.close()

    def _connection(self) -> ClientConnection | None:
        if self._ws is not None or self._tried or not self.ws_url:
            return self._ws
        self._tried = True  # one attempt: an endpoint without WebSockets is polled
        try:
            ws = self._stack.enter_context(connect(self.ws_url, open_timeout=5, max_size=2**24))
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                "params": ["newHeads"]}))  # fmt: skip
            reply = json.loads(ws.recv(timeout=5))
            if "result" not in reply:
                raise ValueError(f"eth_subscribe refused: {reply.get('error')}")
        except (WebSocketException, OSError, ValueError) as exc:
            log.info("no newHeads subscription at %s (%s): polling", self.ws_url, exc)
            self._stack.close()
            return None
        self._ws = ws
        return ws

"""This node's etcd lease, kept alive from its own thread.

A node's event loop is busy for hundreds of milliseconds while it executes or re-executes a
big block; if keep-alives ran on that loop, a busy producer would lose its lease and the
role with it (seen under benchmark load). A thread with its own HTTP client keeps the
lease (and the node's status record under it) fresh regardless. Losing the lease is still
safe: every block commit is fenced on the producer key, which dies with the lease.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from ledger_node.network.access import AUTHENTICATE, EtcdAccess, client_options, stale_token
from ledger_node.network.etcd import b64

log = logging.getLogger(__name__)
DENIED = "permission denied"


class LeaseKeeper(threading.Thread):
    def __init__(
        self,
        endpoints: list[str],
        ttl: int,
        status: Callable[[], tuple[bytes, bytes]],
        access: EtcdAccess | None = None,
    ) -> None:
        super().__init__(daemon=True, name="etcd-lease")
        self.endpoints = endpoints
        self.ttl = ttl
        self.status = status
        self.lease = 0
        self.last_alive = 0.0
        self._current = 0
        self._halt = threading.Event()  # not `_stop`: that is a Thread method join() calls
        self.publish = True  # put the status record (until etcd says permission denied)
        self.credentials = access.credentials() if access else None
        self._token: str | None = None
        self.client = httpx.Client(timeout=max(0.5, ttl / 4), **client_options(access))

    def _headers(self, base: str) -> dict[str, str]:
        if self.credentials is None:
            return {}
        if self._token is None:
            doc = self.client.post(base + AUTHENTICATE, json=self.credentials).json()
            if "token" not in doc:
                raise OSError(f"etcd authentication failed: {doc}")
            self._token = str(doc["token"])
        return {"Authorization": self._token}

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for i in range(len(self.endpoints)):
            idx = (self._current + i) % len(self.endpoints)
            base = self.endpoints[idx]
            try:
                reply = self.client.post(base + path, json=body, headers=self._headers(base))
                doc: dict[str, Any] = reply.json()
            except (httpx.HTTPError, ValueError, ssl.SSLError) as exc:  # see Etcd.call
                last = exc
                continue
            if reply.status_code == 200 and "error" not in doc:
                self._current = idx
                return doc
            if stale_token(str(doc)):
                self._token = None  # authenticate again on the next call
            if DENIED in str(doc):  # every member would say the same
                raise PermissionError(f"etcd {path}: {doc.get('error')}")
            last = OSError(str(doc))
        raise OSError(f"no etcd member reachable ({last})")

    def alive(self) -> bool:
        """The lease was refreshed recently enough that etcd still holds it."""
        return bool(self.lease) and time.monotonic() - self.last_alive < self.ttl * 0.75

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                if not self.lease:
                    self.lease = int(self.call("/v3/lease/grant", {"TTL": str(self.ttl)})["ID"])
                ttl = int(
                    (
                        self.call("/v3/lease/keepalive", {"ID": str(self.lease)}).get("result")
                        or {}
                    ).get("TTL", 0)
                )
                if ttl <= 0:
                    self.lease = 0  # expired: the node notices the new lease id and steps down
                    continue
                self.last_alive = time.monotonic()
                if self.publish:
                    key, value = self.status()
                    put = {"key": b64(key), "value": b64(value), "lease": str(self.lease)}
                    self.call("/v3/kv/put", put)
            except PermissionError as exc:
                # A read-only role (the regulator's follower): etcd refuses its status
                # record, so stop asking (each refusal is a Raft write) and say so once.
                log.warning("not publishing this node's status: %s", exc)
                self.publish = False
            except OSError:
                pass
            self._halt.wait(self.ttl / 4)

    def stop(self, revoke: bool = True) -> None:
        self._halt.set()
        self.join(5)
        if revoke and self.lease:
            with contextlib.suppress(OSError):
                self.call("/v3/lease/revoke", {"ID": str(self.lease)})
        self.client.close()

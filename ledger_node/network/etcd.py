"""A small async client for etcd's v3 JSON gateway (``/v3/kv/*``, ``/v3/lease/*``).

etcd's gRPC API is also served as JSON over HTTP (keys and values base64), so plain httpx is
enough and no gRPC stack is needed. The client knows every cluster member and fails over to
the next on a connection error, so one dead etcd member does not stop a node.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from ledger_node.network.access import AUTHENTICATE, EtcdAccess, client_options, stale_token

# Errors a member returns while the cluster elects a leader: ask the next member.
_TRANSIENT = ("no leader", "leader changed", "timed out", "too many requests")


class EtcdUnavailable(OSError):
    """No etcd member answered (all down, or this node is cut off)."""


class EtcdError(OSError):
    """etcd answered with an error (no quorum, request too large, ...)."""


class EtcdOutcomeUnknown(EtcdUnavailable):
    """A transaction was sent and no answer came (a timeout, a dropped connection, or
    etcd's own "request timed out"): it may or may not have been applied. It is not tried
    on another member: a retry of a compare-and-swap that did apply fails its compare and
    reads as lost. The caller reads etcd to find out."""


# Errors raised before a request left this process: safe to try on another member.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


@dataclass(frozen=True)
class KV:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


def _kv(doc: dict[str, Any]) -> KV:
    return KV(
        unb64(doc["key"]),
        unb64(doc.get("value", "")),
        int(doc.get("create_revision", 0)),
        int(doc.get("mod_revision", 0)),
        int(doc.get("lease", 0)),
    )


# -- transaction building blocks (the gateway's JSON shapes) -----------------------------------
def cmp_absent(key: bytes) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def cmp_value(key: bytes, value: bytes) -> dict[str, Any]:
    return {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(value)}


def cmp_mod(key: bytes, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


# etcd's default --max-txn-ops, which the members run with: a transaction with more
# operations in one branch is refused whole ("too many operations in txn request").
MAX_TXN_OPS = 128


def op_put(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def op_delete(key: bytes) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(key)}}


class Etcd:
    """``access``: TLS and credentials (``access.py``); without it, plain HTTP, no auth."""

    def __init__(
        self,
        endpoints: list[str],
        timeout: float = 2.0,
        access: EtcdAccess | None = None,
        token: str | None = None,
    ) -> None:
        """``token``: one this user got before (each authentication costs etcd a bcrypt
        check and a Raft write); renewed if etcd no longer knows it."""
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.access = access
        self._current = 0
        self._token = token
        self._auth_lock = asyncio.Lock()
        self.client = httpx.AsyncClient(timeout=timeout, **client_options(access))

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def token(self) -> str | None:
        return self._token

    async def headers(self, base: str) -> dict[str, str]:
        """The ``Authorization`` header (authenticating first if no token is held)."""
        creds = self.access.credentials() if self.access else None
        if creds is None:
            return {}
        async with self._auth_lock:  # one authentication (bcrypt + a Raft write) at a time
            if self._token is None:
                reply = await self.client.post(base + AUTHENTICATE, json=creds)
                doc = reply.json()
                if "token" not in doc:
                    raise EtcdError(f"etcd authentication as {creds['name']} failed: {doc}")
                self._token = str(doc["token"])
            return {"Authorization": self._token}

    async def call(
        self, path: str, body: dict[str, Any], idempotent: bool = True
    ) -> dict[str, Any]:
        """POST to the current member, turning to the next on failure; a call that is not
        ``idempotent`` turns only while it surely was not applied (else EtcdOutcomeUnknown)."""
        last: Exception | None = None
        for i in range(len(self.endpoints)):
            idx = (self._current + i) % len(self.endpoints)
            for _ in range(2):  # a second try only after a stale token was replaced
                try:
                    base = self.endpoints[idx]
                    reply = await self.client.post(
                        base + path, json=body, headers=await self.headers(base)
                    )
                # refused, reset, timeout, non-JSON; or a TLS alert after the handshake (TLS
                # 1.3: a member refusing our certificate), which httpx does not wrap
                except (httpx.HTTPError, ValueError, ssl.SSLError) as exc:
                    if not idempotent and not isinstance(exc, _NOT_SENT):
                        raise EtcdOutcomeUnknown(
                            f"etcd {base}{path}: no answer ({type(exc).__name__}); "
                            "it may have been applied"
                        ) from exc
                    last = exc
                    break
                try:
                    doc: dict[str, Any] = reply.json()
                except ValueError:  # a member mid-restart or a cut link answers with non-JSON
                    last = EtcdError(f"etcd {base}: HTTP {reply.status_code}, not JSON")
                    break
                if reply.status_code == 200 and "error" not in doc:
                    self._current = idx
                    return doc
                msg = str(doc.get("error") or doc.get("message") or reply.text)
                if self._token is not None and stale_token(msg):
                    self._token = None
                    last = EtcdError(f"etcd {base}: {msg}")
                    continue
                if any(t in msg for t in _TRANSIENT):
                    if not idempotent and "timed out" in msg:  # proposed, maybe applied
                        raise EtcdOutcomeUnknown(f"etcd {base}{path}: {msg}")
                    last = EtcdError(f"etcd {base}: {msg}")
                    break
                raise EtcdError(f"etcd {path}: {msg}")
        raise EtcdUnavailable(f"no etcd member reachable ({last})")

    # -- kv -------------------------------------------------------------------------------
    async def get(self, key: bytes) -> KV | None:
        doc = await self.call("/v3/kv/range", {"key": b64(key)})
        kvs = doc.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def range(
        self,
        start: bytes,
        end: bytes,
        limit: int = 0,
        keys_only: bool = False,
        min_mod_revision: int = 0,
    ) -> tuple[list[KV], int]:
        """Keys in [start, end) in key order (only those modified at or after
        ``min_mod_revision`` if given); also the store revision of the read."""
        body: dict[str, Any] = {"key": b64(start), "range_end": b64(end)}
        if limit:
            body["limit"] = str(limit)
        if keys_only:
            body["keys_only"] = True
        if min_mod_revision:
            body["min_mod_revision"] = str(min_mod_revision)
        doc = await self.call("/v3/kv/range", body)
        return [_kv(k) for k in doc.get("kvs") or []], int(doc["header"]["revision"])

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        doc = await self.call("/v3/kv/put", op_put(key, value, lease)["request_put"])
        return int(doc["header"]["revision"])

    async def delete(self, key: bytes) -> None:
        await self.call("/v3/kv/deleterange", {"key": b64(key)})

    async def txn(
        self,
        compare: list[dict[str, Any]],
        success: list[dict[str, Any]],
        failure: list[dict[str, Any]] | None = None,
        idempotent: bool = False,
    ) -> bool:
        """``idempotent``: applying it twice does no harm (puts of fixed keys, no compare),
        so it may be tried on another member after no answer."""
        doc = await self.call(
            "/v3/kv/txn",
            {"compare": compare, "success": success, "failure": failure or []},
            idempotent=idempotent,
        )
        return bool(doc.get("succeeded", False))

    # -- leases ---------------------------------------------------------------------------
    async def grant(self, ttl: int) -> int:
        doc = await self.call("/v3/lease/grant", {"TTL": str(ttl)})
        return int(doc["ID"])

    async def keepalive(self, lease: int) -> int:
        """Refresh a lease once; return its remaining TTL (0 or less: it has expired)."""
        doc = await self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int((doc.get("result") or {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        await self.call("/v3/lease/revoke", {"ID": str(lease)})

    async def status(self, endpoint: str) -> dict[str, Any]:
        base = endpoint.rstrip("/")
        for _ in range(2):  # a second try only after a stale token was replaced
            reply = await self.client.post(
                base + "/v3/maintenance/status", json={}, headers=await self.headers(base)
            )
            doc: dict[str, Any] = reply.json()
            if not (self._token and "error" in doc and stale_token(str(doc["error"]))):
                break
            self._token = None
        return doc


def op_delete_prefix(prefix: bytes) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}}


async def last_key(etcd: Etcd, prefix: bytes) -> KV | None:
    """The greatest key under ``prefix`` (e.g. the newest block), or None."""
    doc = await etcd.call(
        "/v3/kv/range",
        {
            "key": b64(prefix),
            "range_end": b64(prefix_end(prefix)),
            "limit": "1",
            "sort_order": "DESCEND",
            "sort_target": "KEY",
            "keys_only": True,
        },
    )
    kvs = doc.get("kvs") or []
    return _kv(kvs[0]) if kvs else None


async def watch_prefix(etcd: Etcd, prefix: bytes, on_keys: Any) -> None:
    """Stream changes under ``prefix`` forever, calling ``on_keys(keys)`` per event batch.

    The gateway serves a watch as one long HTTP response of JSON lines. On any error the
    stream is reopened on the next member; callers re-read state after a wake-up, so a
    missed event between two streams costs nothing but latency.
    """
    body = {"create_request": {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}}
    timeout = httpx.Timeout(2.0, read=None)
    while True:
        url = etcd.endpoints[etcd._current % len(etcd.endpoints)] + "/v3/watch"
        try:
            headers = await etcd.headers(url.rsplit("/v3/", 1)[0])
            async with etcd.client.stream(
                "POST", url, json=body, timeout=timeout, headers=headers
            ) as reply:
                on_keys([])  # (re)connected: whatever happened meanwhile, look again
                async for line in reply.aiter_lines():
                    if '"events"' not in line:
                        if '"error"' in line and stale_token(line):
                            etcd._token = None  # authenticate again on the next stream
                        continue
                    events = json.loads(line).get("result", {}).get("events", [])
                    on_keys([unb64(e["kv"]["key"]) for e in events])
        except (httpx.HTTPError, ValueError, KeyError, OSError):  # EtcdError, ssl.SSLError
            pass
        etcd._current += 1
        await asyncio.sleep(0.1)

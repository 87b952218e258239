"""Fetching ciphertext from another member's gateway: found in the on-chain directory,
reached over TLS pinned to the registered fingerprint, asked with a signed request.

The reader's gateway has already checked the basis and logged the access on chain; the
custodian serves against that entry. The bytes are checked here against the record's
on-chain SHA-256 and the last chunk is held back until they match, so a reader never gets
a complete-looking body that differs from what was registered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from eth_account.signers.local import LocalAccount

from sharing_api.gateway.fetch_auth import sign_fetch
from sharing_api.gateway.tls import PinMismatch, pinned_context

CHUNK = 256 * 1024


class GatewayEntryLike(Protocol):
    url: str
    fingerprint: bytes


class RegistryLike(Protocol):
    def gateway_of(self, account: str) -> Any: ...


class PeerError(OSError):
    """The custodian's gateway could not be reached, or refused or broke off the fetch."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Directory:
    """Members' gateway entries read from AllianceRegistry, cached for ``ttl_s``."""

    def __init__(self, registry: RegistryLike, ttl_s: float = 10.0) -> None:
        self.registry = registry
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, GatewayEntryLike | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, member: str) -> GatewayEntryLike:
        key = member.lower()
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or time.monotonic() - cached[0] > self.ttl_s:
            cached = (time.monotonic(), self.registry.gateway_of(member))
            with self._lock:
                self._cache[key] = cached
        if cached[1] is None:
            raise PeerError(502, f"member {member} has no gateway in the on-chain directory")
        return cached[1]

    def forget(self, member: str) -> None:
        with self._lock:
            self._cache.pop(member.lower(), None)


@dataclass
class _Peer:
    url: str
    fingerprint: bytes
    http: httpx.Client


class PeerFetcher:
    """One pooled, pinned HTTP client per peer gateway."""

    def __init__(
        self, directory: Directory, *, insecure_http: bool = False, timeout: float = 30.0
    ) -> None:
        self.directory = directory
        self.insecure_http = insecure_http
        self.timeout = timeout
        self._peers: dict[str, _Peer] = {}
        self._lock = threading.Lock()

    def _peer(self, member: str) -> _Peer:
        entry = self.directory.lookup(member)
        key = member.lower()
        url = entry.url.rstrip("/")
        with self._lock:
            found = self._peers.get(key)
        if found is not None and (found.url, found.fingerprint) == (url, entry.fingerprint):
            return found
        if url.startswith("https://"):
            try:
                verify: Any = pinned_context(url, entry.fingerprint, self.timeout)
            except PinMismatch as exc:
                self.directory.forget(member)  # re-read the chain next time: it may have moved
                raise PeerError(502, str(exc)) from None
            except OSError as exc:
                raise PeerError(502, f"cannot reach {member}'s gateway at {url}: {exc}") from None
        elif url.startswith("http://") and self.insecure_http:
            verify = False
        else:
            raise PeerError(
                502,
                f"{member}'s gateway is registered at {url}: plain HTTP between gateways "
                "needs insecure_http (loopback tests only)",
            )
        # As many kept-alive connections as worker threads may fetch at once (anyio's 40):
        # httpx keeps 20, and every connection past them was a new TLS handshake.
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        peer = _Peer(
            url,
            entry.fingerprint,
            httpx.Client(base_url=url, verify=verify, timeout=self.timeout, limits=limits),
        )
        with self._lock:
            old = self._peers.get(key)
            if old is not None and (old.url, old.fingerprint) == (url, entry.fingerprint):
                # Another request connected first: keep its client, which may be in use.
                peer, old = old, peer
            else:
                self._peers[key] = peer
        if old is not None:
            old.http.close()
        return peer

    def close(self) -> None:
        with self._lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.http.close()

    def get(self, member: str, path: str, max_bytes: int = 1 << 20) -> bytes:
        """A small public document from ``member``'s gateway (e.g. ABE parameters)."""
        peer = self._peer(member)
        try:
            with peer.http.stream("GET", path) as response:
                if response.status_code != 200:
                    raise PeerError(
                        response.status_code,
                        f"{member}'s gateway: {path} -> HTTP {response.status_code}",
                    )
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise PeerError(502, f"{member}'s gateway: {path} is too large")
                return body
        except httpx.HTTPError as exc:
            raise PeerError(502, f"cannot reach {member}'s gateway at {peer.url}: {exc}") from None

    def post_json(
        self,
        member: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float | None = None,
        max_bytes: int = 4 << 20,
    ) -> Any:
        """POST ``body`` (JSON bytes, sent exactly as signed) to ``member``'s gateway; its JSON
        answer, or PeerError with the peer's status and problem detail."""
        peer = self._peer(member)
        try:
            response = peer.http.post(
                path,
                content=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=self.timeout if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            raise PeerError(502, f"cannot reach {member}'s gateway at {peer.url}: {exc}") from None
        if len(response.content) > max_bytes:
            raise PeerError(502, f"{member}'s gateway: {path} answered too much")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise PeerError(
                response.status_code,
                f"{member}'s gateway refused: {detail or f'HTTP {response.status_code}'}",
            )
        if answer is None:
            raise PeerError(502, f"{member}'s gateway: {path} did not answer JSON")
        return answer

    def fetch(
        self,
        custodian: str,
        record_id: int,
        access_id: int,
        reader_key: bytes | LocalAccount,
        expected_sha256: str,
    ) -> Iterator[bytes]:
        """Open the custodian's stream (errors before the first byte raise PeerError here);
        the iterator yields verified chunks and raises PeerError if the stream breaks off
        or does not match ``expected_sha256``."""
        peer = self._peer(custodian)
        headers = sign_fetch(reader_key, custodian, record_id, access_id)
        request = peer.http.build_request(
            "GET", f"/gateway/records/{record_id}/ciphertext", headers=headers
        )
        try:
            response = peer.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise PeerError(
                502, f"cannot reach {custodian}'s gateway at {peer.url}: {exc}"
            ) from None
        if response.status_code != 200:
            try:
                response.read()
                problem = response.json()
                detail = str(problem.get("detail") or problem.get("title"))
            except (ValueError, httpx.HTTPError):
                detail = f"HTTP {response.status_code}"
            finally:
                response.close()
            raise PeerError(response.status_code, f"{custodian}'s gateway refused: {detail}")
        return _verified(response, expected_sha256, custodian)


def _verified(response: httpx.Response, expected_sha256: str, custodian: str) -> Iterator[bytes]:
    sha = hashlib.sha256()
    held: bytes | None = None
    try:
        for chunk in response.iter_bytes(CHUNK):
            sha.update(chunk)
            if held is not None:
                yield held
            held = chunk
    except httpx.HTTPError as exc:
        raise PeerError(502, f"{custodian}'s gateway broke off the stream: {exc}") from None
    finally:
        response.close()
    if sha.hexdigest() != expected_sha256.lower().removeprefix("0x"):
        raise PeerError(502, f"{custodian}'s gateway sent bytes that differ from the chain's hash")
    if held is not None:
        yield held

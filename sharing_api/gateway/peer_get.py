"""A GET at another member's gateway, as the holder of a ledger key: the gateway found in the
on-chain directory, TLS pinned to its registered fingerprint, signed in there with the key
(a kept token is reused until it is refused). The break-glass review (the regulator reading
sealed reasons) and referral texts (a party reading the other party's notes) both ask this
way; neither trusts the answer: each checks it against the chain."""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

from eth_account import Account

from sharing_api.chain import Alliance
from sharing_api.gateway.tls import PinMismatch, pinned_context
from sharing_api.sdk.client import ApiError as SdkApiError
from sharing_api.sdk.client import SharingClient


class GatewayUnreachable(ConnectionError):
    """A member's gateway is not in the directory, not reachable, or not the registered one."""


class PeerTokens:
    """Tokens at other gateways, kept until shortly before they expire: a console reviewing a
    whole queue would otherwise sign in per text and meet the other gateway's per-IP limit
    on sign-in nonces."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, slot: str) -> str:
        with self._lock:
            found = self._tokens.get(slot)
        return found[1] if found and found[0] - 30 > time.time() else ""

    def put(self, slot: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[slot] = (expires_at, token)


# This gateway process's tokens at other gateways, per (gateway, key): every peer read shares
# them, so the regulator signs in once at a gateway for break-glass texts and referral texts.
PEER_TOKENS = PeerTokens()


def get_as(
    alliance: Alliance,
    member: str,
    key: str | bytes,
    path: str,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
    tokens: PeerTokens | None = None,
) -> tuple[Any, str]:
    """``GET path`` at ``member``'s gateway, signed in with ``key``: the JSON answer, and the
    gateway described in words (for the caller's errors)."""
    entry = alliance.registry.gateway_of(member)
    if entry is None:
        raise GatewayUnreachable(f"member {member} has no gateway in the on-chain directory")
    where = f"member {member}'s gateway at {entry.url}"
    if entry.url.startswith("http://") and not insecure_http:
        raise GatewayUnreachable(f"{where} is plain http (loopback tests only: --insecure-http)")
    try:
        verify: Any = (
            False
            if entry.url.startswith("http://")
            else pinned_context(entry.url, entry.fingerprint, timeout)
        )
        slot = f"{entry.url}|{Account.from_key(key).address}"
        token = tokens.get(slot) if tokens else ""
        with SharingClient(entry.url, token, timeout=timeout, verify=verify) as client:
            if token:
                try:
                    return client.json("GET", path), where
                except SdkApiError as exc:
                    if exc.status != 401:
                        raise
                    # the kept token expired or was refused: sign in again
            signed_in = client.login(key)
            if tokens:
                tokens.put(slot, client.token, float(signed_in["expires_at"]))
            return client.json("GET", path), where
    except (PinMismatch, ConnectionError, TimeoutError, ssl.SSLError) as exc:
        raise GatewayUnreachable(f"{where} is unreachable: {exc}") from None

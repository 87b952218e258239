"""Fetching a referral's free text held by another member's gateway, as the break-glass review
fetches sealed texts (``audit/break_glass_texts.py``): the gateway found in the on-chain
directory, TLS pinned to its registered fingerprint, signed in there with the asking
party's ledger key (a member party, or the regulator), and asked only for what it holds
(``GET /referrals/{id}/texts?held_here=true``, so two gateways never ask each other in a
loop). Nothing fetched is trusted: the caller checks every text against the chain."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from eth_account import Account

from sharing_api.audit.break_glass_texts import GatewayUnreachable, PeerTokens
from sharing_api.chain import Alliance
from sharing_api.gateway.tls import PinMismatch, pinned_context
from sharing_api.sdk.client import ApiError as SdkApiError
from sharing_api.sdk.client import SharingClient


@dataclass(frozen=True)
class PeerText:
    kind: str
    text: str
    salt: bytes
    held_by: str


class BadPeerAnswer(ValueError):
    """The peer answered something that is not a list of texts with 32-byte salts."""


def fetch_texts(
    alliance: Alliance,
    holder: str,
    referral_id: int,
    party_key: bytes,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
    tokens: PeerTokens | None = None,
) -> list[PeerText]:
    """The texts of ``referral_id`` that ``holder``'s gateway keeps, asked as the owner of
    ``party_key`` (signed in there; a kept token is reused until it is refused)."""
    entry = alliance.registry.gateway_of(holder)
    if entry is None:
        raise GatewayUnreachable(f"member {holder} has no gateway in the on-chain directory")
    where = f"member {holder}'s gateway at {entry.url}"
    if entry.url.startswith("http://") and not insecure_http:
        raise GatewayUnreachable(f"{where} is plain http (loopback tests only)")
    path = f"/referrals/{referral_id}/texts?held_here=true"
    try:
        verify: Any = (
            False
            if entry.url.startswith("http://")
            else pinned_context(entry.url, entry.fingerprint, timeout)
        )
        slot = f"{entry.url}|{Account.from_key(party_key).address}"
        token = tokens.get(slot) if tokens else ""
        with SharingClient(entry.url, token, timeout=timeout, verify=verify) as client:
            answer = None
            if token:
                try:
                    answer = client.json("GET", path)
                except SdkApiError as exc:
                    if exc.status != 401:
                        raise
            if answer is None:
                signed_in = client.login(party_key)
                if tokens:
                    tokens.put(slot, client.token, float(signed_in["expires_at"]))
                answer = client.json("GET", path)
    except (PinMismatch, ConnectionError, TimeoutError, ssl.SSLError) as exc:
        raise GatewayUnreachable(f"{where} is unreachable: {exc}") from None
    return _parse(answer, holder, where)


def _parse(answer: Any, holder: str, where: str) -> list[PeerText]:
    try:
        found = []
        for t in answer["texts"]:
            salt = bytes.fromhex(str(t["salt"]).removeprefix("0x"))
            if len(salt) != 32:
                raise ValueError("salt")
            found.append(PeerText(str(t["kind"]), str(t["text"]), salt, holder.lower()))
        return found
    except (KeyError, TypeError, ValueError):
        raise BadPeerAnswer(f"{where} answered no referral texts") from None

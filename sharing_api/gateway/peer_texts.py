"""Fetching a referral's free text held by another member's gateway, as the break-glass review
fetches sealed texts (``audit/break_glass_texts.py``): the gateway found in the on-chain
directory, TLS pinned to its registered fingerprint, signed in there with the asking
party's ledger key (a member party, or the regulator), and asked only for what it holds
(``GET /referrals/{id}/texts?held_here=true``, so two gateways never ask each other in a
loop). Nothing fetched is trusted: the caller checks every text against the chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sharing_api.chain import Alliance
from sharing_api.gateway.peer_get import PeerTokens, get_as


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
    answer, where = get_as(
        alliance,
        holder,
        party_key,
        f"/referrals/{referral_id}/texts?held_here=true",
        insecure_http=insecure_http,
        timeout=timeout,
        tokens=tokens,
    )
    return _parse(answer, holder, where)


def fetch_consultation_texts(
    alliance: Alliance,
    holder: str,
    consultation_id: int,
    party_key: bytes,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
    tokens: PeerTokens | None = None,
) -> list[PeerText]:
    """The texts of ``consultation_id`` that ``holder``'s gateway keeps (as ``fetch_texts``)."""
    answer, where = get_as(
        alliance,
        holder,
        party_key,
        f"/consultations/{consultation_id}/texts?held_here=true",
        insecure_http=insecure_http,
        timeout=timeout,
        tokens=tokens,
    )
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
        raise BadPeerAnswer(f"{where} answered no texts") from None

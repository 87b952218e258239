"""A referral's free text: committed to on chain with a salt, kept by the gateway that wrote it.

Writing: the route commits (``crypto.text_commitment``), sends the commitment to the chain,
then keeps the text, its salt and its author here (``index/referral_texts.py``). The reason
and a cancel note are written by the referrer's gateway; reject and complete notes by the
receiver's.

Reading (``GET /referrals/{id}/texts``): the referral's parties (the referrer and the
receiver, their staff), its patient and the regulator. This gateway answers what it holds
and, for a member party or the regulator whose ledger key it holds, fetches the rest from the
other party's gateway (``gateway/peer_texts.py``). Every text is checked against the chain's
commitment before it is shown as valid; a mismatch is reported, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import text_commitment
from crypto.text_commitment import Committed
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.errors import forbidden
from sharing_api.api.services import Services
from sharing_api.chain import ReferralStatus
from sharing_api.gateway.peer_get import PEER_TOKENS, GatewayUnreachable
from sharing_api.gateway.peer_texts import BadPeerAnswer, PeerText, fetch_texts
from sharing_api.index.committed_texts import StoredText
from sharing_api.sdk.client import ApiError as SdkApiError

ZERO = "0x" + "00" * 32
# The status a transition moves to, by the kind of its note.
NOTE_STATUS = {
    "reject": ReferralStatus.REJECTED,
    "complete": ReferralStatus.COMPLETED,
    "cancel": ReferralStatus.CANCELLED,
}


@dataclass(frozen=True)
class CheckedText:
    kind: str
    text: str
    salt: str  # 0x-hex
    commitment: str  # the chain's, from this gateway's index
    matches_chain: bool  # recomputed here from the text and salt
    held_by: str  # the member whose gateway keeps it


def keep(
    services: Services, member: str, author: str, referral_id: int, committed: Committed
) -> None:
    """Keep a text this gateway just committed to on chain for ``member`` (written by
    ``author``: a staff id@member, or the member); no text: nothing to keep."""
    if not committed.text:
        return
    services.referral_texts.put(
        StoredText(
            referral_id,
            committed.kind,
            member,
            author,
            committed.text,
            committed.salt,
            "0x" + committed.commitment.hex(),
        )
    )


def check_reader(principal: Principal, row: dict[str, Any]) -> None:
    """403 unless the caller may read this referral's texts."""
    if principal.kind is Kind.REGULATOR:
        return
    if principal.kind is Kind.PATIENT:
        if principal.owns(row["patient"]):  # any of the pseudonyms they proved
            return
        raise forbidden("patients read their own referrals' texts only")
    if principal.member.lower() not in (row["referrer"], row["receiver"]):
        raise forbidden("members read the texts of referrals they are a party to")


def chain_commitments(services: Services, row: dict[str, Any]) -> dict[str, str]:
    """What the chain (as indexed here) commits to, by kind: zero where it holds no text."""
    found = {"reason": str(row["reason_hash"]).lower()}
    history = services.index.referral_history(int(row["referral_id"]))
    for kind, status in NOTE_STATUS.items():
        for change in history:
            if int(change["to_status"]) == status:
                found[kind] = str(change["note_hash"]).lower()
    return {k: v for k, v in found.items() if v != ZERO}


def checked(kind: str, text: str, salt: bytes, held_by: str, chain: dict[str, str]) -> CheckedText:
    commitment = chain.get(kind, ZERO)
    ok = commitment != ZERO and text_commitment.matches(
        bytes.fromhex(commitment[2:]), salt, kind, text
    )
    return CheckedText(kind, text, "0x" + salt.hex(), commitment, ok, held_by)


def held_here(
    services: Services, row: dict[str, Any], chain: dict[str, str] | None = None
) -> list[CheckedText]:
    """The texts this gateway holds, each checked against ``chain`` (default: as indexed)."""
    chain = chain_commitments(services, row) if chain is None else chain
    return [
        checked(t.kind, t.text, t.salt, t.member, chain)
        for t in services.referral_texts.texts(int(row["referral_id"])).values()
    ]


def gather(
    services: Services, principal: Principal, row: dict[str, Any]
) -> tuple[list[CheckedText], list[str]]:
    """(texts, notes): what this gateway holds, plus what the other party's gateway holds,
    fetched where this gateway can sign in there for the caller. ``notes`` say which texts
    the chain commits to that could not be had, and why."""
    chain = chain_commitments(services, row)
    texts = {t.kind: t for t in held_here(services, row, chain)}
    notes: list[str] = []
    missing = [k for k in chain if k not in texts]
    holders = {row["referrer"], row["receiver"]}
    remote = [m for m in holders if not services.hosts(m)]
    if missing and remote:
        key = _party_key(services, principal)
        if key is None:
            notes.append(
                "kept by another member's gateway: sign in there to read "
                + ", ".join(sorted(missing))
            )
            remote = []
        for holder in remote:
            assert key is not None
            try:
                fetched = fetch_texts(
                    services.reader,
                    holder,
                    int(row["referral_id"]),
                    key,
                    insecure_http=services.settings.insecure_http,
                    timeout=services.settings.peer_timeout_s,
                    tokens=PEER_TOKENS,
                )
            except (GatewayUnreachable, BadPeerAnswer, SdkApiError) as exc:
                notes.append(f"{holder}'s gateway did not give its texts: {exc}")
                continue
            for t in fetched:
                if t.kind in chain and t.kind not in texts:
                    texts[t.kind] = _checked_peer(t, chain)
                    if texts[t.kind].matches_chain:  # kept for listings; never a wrong one
                        services.referral_texts.keep_copy(
                            StoredText(
                                int(row["referral_id"]),
                                t.kind,
                                t.held_by,
                                "copy",
                                t.text,
                                t.salt,
                                chain[t.kind],
                            )
                        )
    for kind in chain:
        if kind not in texts:
            notes.append(f"no {kind} text found for the commitment on chain")
    return sorted(texts.values(), key=lambda t: text_commitment.KINDS.index(t.kind)), notes


def _checked_peer(t: PeerText, chain: dict[str, str]) -> CheckedText:
    return checked(t.kind, t.text, t.salt, t.held_by, chain)


def _party_key(services: Services, principal: Principal) -> bytes | None:
    """The ledger key this gateway may sign in with elsewhere for the caller: the caller's
    member's (members and their staff), or the regulator's; none for a patient."""
    if principal.kind is Kind.PATIENT or not services.hosts(principal.member):
        return None
    return bytes(services.signer(principal.member).client.account.key)


def verified_reasons(services: Services, rows: list[dict[str, Any]]) -> dict[int, str]:
    """The reasons held here of these referrals that match the chain (for listings)."""
    held = services.referral_texts.reasons([int(r["referral_id"]) for r in rows])
    out = {}
    for r in rows:
        found = held.get(int(r["referral_id"]))
        if found is not None and text_commitment.matches(
            bytes.fromhex(str(r["reason_hash"])[2:]), found[1], "reason", found[0]
        ):
            out[int(r["referral_id"])] = found[0]
    return out

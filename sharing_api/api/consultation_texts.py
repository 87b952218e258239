"""A consultation's free text: committed to on chain with a salt, kept by the gateway that
wrote it (the question and the requester's close/cancel notes by the requester's gateway; the
decline and report notes by the consultant's), served to the parties, the patient and the
regulator, fetched from the other party's gateway over pinned TLS and always checked
against the chain (as ``api/referral_texts.py`` does for referrals)."""

from __future__ import annotations

from typing import Any

from crypto import text_commitment
from crypto.text_commitment import Committed
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.errors import forbidden
from sharing_api.api.referral_texts import CheckedText, checked
from sharing_api.api.services import Services
from sharing_api.gateway.peer_get import PEER_TOKENS, GatewayUnreachable
from sharing_api.gateway.peer_texts import BadPeerAnswer, fetch_consultation_texts
from sharing_api.index.committed_texts import StoredText
from sharing_api.sdk.client import ApiError as SdkApiError

ZERO = "0x" + "00" * 32
# The step (as indexed) whose note is free text of that kind.
STEP_KIND = {"declined": "decline", "reported": "report", "closed": "close", "cancelled": "cancel"}


def keep(
    services: Services, member: str, author: str, consultation_id: int, committed: Committed
) -> None:
    """Keep a text this gateway just committed to on chain for ``member``; none: nothing."""
    if committed.text:
        services.consultation_texts.put(
            StoredText(
                consultation_id,
                committed.kind,
                member,
                author,
                committed.text,
                committed.salt,
                "0x" + committed.commitment.hex(),
            )
        )


def check_reader(principal: Principal, row: dict[str, Any]) -> None:
    """403 unless the caller may see this consultation (and its texts)."""
    if principal.kind is Kind.REGULATOR:
        return
    if principal.kind is Kind.PATIENT:
        if principal.owns(row["patient"]):
            return
        raise forbidden("patients see the consultations about their own records only")
    if principal.member.lower() not in (row["requester"], row["consultant"]):
        raise forbidden("members see the consultations they are a party to")


def chain_commitments(services: Services, row: dict[str, Any]) -> dict[str, str]:
    """What the chain (as indexed here) commits to, by kind: zero where it holds no text."""
    found = {"question": str(row["question_hash"]).lower()}
    for step in services.consultations.steps(int(row["consultation_id"])):
        kind = STEP_KIND.get(step["step"])
        if kind:
            found[kind] = str(step["note_hash"]).lower()
    return {k: v for k, v in found.items() if v != ZERO}


def held_here(
    services: Services, row: dict[str, Any], chain: dict[str, str] | None = None
) -> list[CheckedText]:
    chain = chain_commitments(services, row) if chain is None else chain
    return [
        checked(t.kind, t.text, t.salt, t.member, chain)
        for t in services.consultation_texts.texts(int(row["consultation_id"])).values()
    ]


def gather(
    services: Services, principal: Principal, row: dict[str, Any]
) -> tuple[list[CheckedText], list[str]]:
    """(texts, notes): what this gateway holds, plus the other party's gateway's texts where
    this gateway can sign in there for the caller (a hosted member party, or the regulator)."""
    chain = chain_commitments(services, row)
    texts = {t.kind: t for t in held_here(services, row, chain)}
    notes: list[str] = []
    missing = [k for k in chain if k not in texts]
    remote = [m for m in (row["requester"], row["consultant"]) if not services.hosts(m)]
    key = None
    if principal.kind is not Kind.PATIENT and services.hosts(principal.member):
        key = bytes(services.signer(principal.member).client.account.key)
    if missing and remote and key is None:
        notes.append(
            "kept by another member's gateway: sign in there to read " + ", ".join(missing)
        )
    elif missing and key is not None:
        for holder in remote:
            try:
                fetched = fetch_consultation_texts(
                    services.reader,
                    holder,
                    int(row["consultation_id"]),
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
                    texts[t.kind] = checked(t.kind, t.text, t.salt, t.held_by, chain)
    for kind in chain:
        if kind not in texts:
            notes.append(f"no {kind} text found for the commitment on chain")
    order = text_commitment.KINDS
    return sorted(texts.values(), key=lambda t: order.index(t.kind)), notes


def verified_question(services: Services, row: dict[str, Any]) -> str | None:
    """The question, if this gateway holds it and it matches the chain (for listings)."""
    held = services.consultation_texts.texts(int(row["consultation_id"])).get("question")
    if held is None:
        return None
    ok = text_commitment.matches(
        bytes.fromhex(str(row["question_hash"])[2:]), held.salt, "question", held.text
    )
    return held.text if ok else None

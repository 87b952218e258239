"""Referral proposals as the API answers them: the response model, and the patient accepting
(an EIP-712 ReferralConsent this gateway checks, then submits as the referrer with
``createWithSig``) or declining. Shared by the local routes (``routes/referral_proposals``),
the patient inbox that spans gateways (``routes/referral_inbox``) and the gateway-to-gateway
routes (``routes/gateway_proposals``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import BaseModel, Field

from crypto import text_commitment
from sharing_api.api import referral_texts
from sharing_api.api.errors import ApiError, forbidden, not_found
from sharing_api.api.schemas import SignatureIn
from sharing_api.api.services import Services
from sharing_api.chain import Direction
from sharing_api.chain.scopes import Category
from sharing_api.chain.typed_data import referral_typed_data
from sharing_api.index.proposals import ACCEPTED, ACCEPTING, DECLINED, PENDING, ProposalStore


class AcceptIn(BaseModel):
    """The patient's ReferralConsent signature over the proposal's terms and the referral's
    expiry the patient chose (nonce: the patient's current ReferralRegistry nonce, see
    GET /patients/me/signing)."""

    deadline: Annotated[int, Field(ge=0, lt=2**256)]
    expires_at: Annotated[int, Field(ge=1, lt=2**40)] = Field(
        description="Unix time the referral ends, as signed (at most 90 days away)"
    )
    signature: SignatureIn


class DeclineIn(BaseModel):
    note: str = Field(default="", max_length=1024)


class ProposalOut(BaseModel):
    proposal_id: int
    patient: str
    referrer: str
    receiver: str
    direction: str
    record_ids: list[int]
    categories: list[str]  # of the records, for showing the terms in plain words
    reason: str
    # The reason's salt: the wallet computes the commitment it signs from reason and salt.
    reason_salt: str
    proposed_by: str
    created_at: int
    expires_at: int
    status: str  # pending, accepting, accepted, declined, expired
    answered_at: int | None
    note: str
    referral_id: int | None
    tx_hash: str | None


def _categories(services: Services, record_ids: list[int]) -> list[str]:
    found = []
    for record_id in record_ids:
        row = services.index.record(record_id)
        if row is not None:
            label = Category(int(row["category"])).label
            if label not in found:
                found.append(label)
    return found


def proposal_out(services: Services, row: dict[str, Any]) -> ProposalOut:
    status = row["status"]
    if status == PENDING and row["expires_at"] <= time.time():
        status = "expired"
    return ProposalOut(
        **{
            k: row[k]
            for k in ProposalOut.model_fields
            if k not in ("direction", "status", "categories")
        },
        direction=Direction(int(row["direction"])).name.lower(),
        status=status,
        categories=_categories(services, row["record_ids"]),
    )


def find_proposal(store: ProposalStore, proposal_id: int) -> dict[str, Any]:
    row = store.get(proposal_id)
    if row is None:
        raise not_found(f"no referral proposal {proposal_id}")
    return row


def answerable(
    store: ProposalStore,
    proposal_id: int,
    patient: str | tuple[str, ...],
    referrer: str | None = None,
) -> dict[str, Any]:
    """The proposal, if ``patient`` is its patient and it still waits for an answer (and,
    given ``referrer``, that member made it: ids are per gateway, not alliance-wide)."""
    row = find_proposal(store, proposal_id)
    if referrer is not None and row["referrer"] != referrer.lower():
        raise not_found(f"{referrer} made no referral proposal {proposal_id}")
    patients = (patient,) if isinstance(patient, str) else patient  # any of their pseudonyms
    if row["patient"] not in {p.lower() for p in patients}:
        raise forbidden("only the patient answers a referral proposal")
    if row["status"] != PENDING:
        raise ApiError(409, f"proposal {proposal_id} is already {row['status']}")
    if row["expires_at"] <= time.time():
        raise ApiError(409, f"proposal {proposal_id} expired")
    return row


def reason_of(row: dict[str, Any]) -> text_commitment.Committed:
    """The proposal's reason committed under its own salt (what the patient signs)."""
    return text_commitment.commit_new(
        "reason", row["reason"], bytes.fromhex(str(row["reason_salt"])[2:])
    )


def check_signature(services: Services, row: dict[str, Any], body: AcceptIn) -> None:
    """Recover the signer of the ReferralConsent over exactly these terms and the patient's
    current nonce; anything else is refused before a transaction is sent."""
    if body.deadline <= time.time():
        raise ApiError(400, "the signature's deadline has passed")
    registry = services.signer(row["referrer"]).referrals
    typed = referral_typed_data(
        patient=row["patient"],
        referrer=row["referrer"],
        receiver=row["receiver"],
        direction=int(row["direction"]),
        record_ids=row["record_ids"],
        reason_hash=reason_of(row).commitment,
        expires_at=body.expires_at,
        nonce=registry.nonce_of(row["patient"]),
        deadline=body.deadline,
        chain_id=registry.client.chain_id,
        referral_registry=registry.address,
    )
    sig = body.signature.to_sig()
    try:
        signer = Account.recover_message(
            encode_typed_data(full_message=typed), vrs=(sig.v, sig.r, sig.s)
        )
    except Exception:  # malformed r/s/v: eth_keys raises several kinds
        raise ApiError(400, "the signature is malformed") from None
    if signer.lower() != row["patient"]:
        raise ApiError(
            400, "the signature is not the patient's ReferralConsent to this proposal's terms"
        )


def accept_answer(
    services: Services, store: ProposalStore, row: dict[str, Any], body: AcceptIn
) -> ProposalOut:
    """Check the patient's ReferralConsent and submit it as the referrer (local and relayed
    accepts alike: the origin gateway is the one that checks and submits)."""
    proposal_id = int(row["proposal_id"])
    check_signature(services, row, body)
    if not store.claim(proposal_id, ACCEPTING):
        raise ApiError(409, f"proposal {proposal_id} was answered meanwhile")
    try:
        referred = services.signer(row["referrer"]).referrals.create_with_sig(
            row["patient"],
            row["receiver"],
            Direction(int(row["direction"])),
            row["record_ids"],
            body.expires_at,
            body.deadline,
            body.signature.to_sig(),
            reason_of(row).commitment,
        )
    except BaseException:
        store.release(proposal_id)
        raise
    services.metrics.chain_writes.labels("referral").inc()
    referral_texts.keep(
        services, row["referrer"], row["proposed_by"], referred.referral_id, reason_of(row)
    )
    store.finish(
        proposal_id,
        status=ACCEPTED,
        referral_id=referred.referral_id,
        tx_hash=referred.sent.tx_hash,
    )
    services.indexer.sync()
    return proposal_out(services, find_proposal(store, proposal_id))


def decline_answer(
    services: Services, store: ProposalStore, proposal_id: int, note: str
) -> ProposalOut:
    if not store.claim(proposal_id, DECLINED):
        raise ApiError(409, f"proposal {proposal_id} was answered meanwhile")
    store.finish(proposal_id, note=note)
    return proposal_out(services, find_proposal(store, proposal_id))

"""Referrals between members: create (on a consent or the patient's signature), accept,
reject, complete, cancel, the patient's withdrawal, list. Once the receiver accepts, its
readers may fetch the handed-over records until the referral ends: closed, withdrawn, past
its own expiry, or its consent revoked or over."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crypto import text_commitment
from sharing_api.api import referral_texts
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import (
    Anyone,
    CareProvider,
    FreshServices,
    PatientOrCare,
    ServicesDep,
)
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.lookups import patient_scope, relayer_for
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import (
    AddressField,
    Hex32,
    IdPath,
    ReferralOut,
    SignatureIn,
    referral_out,
)
from sharing_api.api.services import Services
from sharing_api.chain import Direction, ReferralStatus
from sharing_api.chain.referrals import MAX_REFERRAL_DURATION_S

router = APIRouter(prefix="/referrals", tags=["referrals"])
ZERO32 = b"\x00" * 32
# A referral on a consent, created without an expiry, lasts this long (or until the consent
# ends, if sooner). One the patient signs always names its expiry: the patient agreed to it.
DEFAULT_REFERRAL_DURATION_S = 30 * 24 * 3600


class PatientSignature(BaseModel):
    deadline: Annotated[int, Field(ge=0, lt=2**256)]
    signature: SignatureIn


class ReferralIn(BaseModel):
    patient: AddressField
    receiver: AddressField
    direction: str = Field(pattern=r"^(up|down)$")
    record_ids: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=64)
    consent_id: Annotated[int, Field(ge=1)] | None = None
    patient_signature: PatientSignature | None = None
    reason: str = Field(default="", max_length=1024)
    reason_salt: Hex32 | None = Field(
        default=None,
        description="The 32-byte salt of the reason's commitment: required with "
        "patient_signature and a reason (the salt the patient's wallet signed under); "
        "on a consent this gateway draws one if not given.",
    )
    expires_at: Annotated[int, Field(ge=1, lt=2**40)] | None = Field(
        default=None,
        description="Unix time the referral (and access through it) ends: at most "
        f"{MAX_REFERRAL_DURATION_S // 86_400} days away, not after the consent ends. Required "
        "with patient_signature (the value the patient signed); on a consent it defaults to "
        f"{DEFAULT_REFERRAL_DURATION_S // 86_400} days, or the consent's end if sooner.",
    )


class WithdrawIn(BaseModel):
    """The patient's signed EIP-712 Withdraw (domain AllianceReferral; nonce: the patient's
    ReferralRegistry nonce, see GET /patients/me/signing)."""

    nonce: Annotated[int, Field(ge=0, lt=2**256)]
    deadline: Annotated[int, Field(ge=0, lt=2**256)]
    signature: SignatureIn


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=1024)


class ReferralChangeOut(BaseModel):
    """One ReferralStatusChanged event from the index: who moved the referral, and when."""

    from_status: str
    to_status: str
    by: str
    note_hash: str
    block_number: int
    timestamp: int


def find_referral(services: Services, referral_id: int, principal: Principal) -> dict[str, Any]:
    row = services.index.referral(referral_id)
    if row is None:
        services.indexer.sync()
        row = services.index.referral(referral_id)
    if row is None:
        raise not_found(f"no referral {referral_id}")
    if principal.kind is Kind.PATIENT and not principal.owns(row["patient"]):
        raise forbidden("patients see their own referrals only")
    return row


@router.post("", status_code=201, responses=PROBLEM_RESPONSES, summary="Refer a patient")
def create(body: ReferralIn, principal: CareProvider, services: ServicesDep) -> ReferralOut:
    signer = services.signer(principal.member)
    direction = Direction.UP if body.direction == "up" else Direction.DOWN
    if (body.consent_id is None) == (body.patient_signature is None):
        raise ApiError(400, "give exactly one of consent_id or patient_signature")
    if body.expires_at is not None and body.expires_at <= time.time():
        raise ApiError(400, "expires_at has passed")
    if body.patient_signature is not None and body.reason and body.reason_salt is None:
        raise ApiError(400, "give reason_salt: the salt the patient's signature commits under")
    reason = text_commitment.commit_new(
        "reason", body.reason, bytes.fromhex(body.reason_salt[2:]) if body.reason_salt else None
    )
    if body.consent_id is not None:
        expires_at = body.expires_at
        if expires_at is None:
            consent = services.reader.consents.get(body.consent_id)
            expires_at = min(int(time.time()) + DEFAULT_REFERRAL_DURATION_S, consent.valid_until)
        referred = signer.referrals.create(
            body.patient,
            body.receiver,
            direction,
            body.record_ids,
            body.consent_id,
            expires_at,
            reason.commitment,
        )
    else:
        assert body.patient_signature is not None
        if body.expires_at is None:
            raise ApiError(400, "give expires_at: the expiry the patient signed")
        referred = signer.referrals.create_with_sig(
            body.patient,
            body.receiver,
            direction,
            body.record_ids,
            body.expires_at,
            body.patient_signature.deadline,
            body.patient_signature.signature.to_sig(),
            reason.commitment,
        )
    services.metrics.chain_writes.labels("referral").inc()
    referral_texts.keep(services, principal.member, principal.subject, referred.referral_id, reason)
    services.indexer.sync()
    return referral_out(
        find_referral(services, referred.referral_id, principal), reason.text or None
    )


def _transition(
    referral_id: int, action: str, note: str, principal: Principal, services: Services
) -> ReferralOut:
    row = find_referral(services, referral_id, principal)
    party = "referrer" if action == "cancel" else "receiver"
    if row[party] != principal.member.lower():
        raise forbidden(f"only the {party} may {action} referral {referral_id}")
    referrals = services.signer(principal.member).referrals
    if action == "accept":
        referrals.accept(referral_id)
    else:
        committed = text_commitment.commit_new(action, note)
        getattr(referrals, action)(referral_id, committed.commitment)
        referral_texts.keep(services, principal.member, principal.subject, referral_id, committed)
    services.metrics.chain_writes.labels("referral").inc()
    services.indexer.sync()
    return _out(services, find_referral(services, referral_id, principal))


def _out(services: Services, row: dict[str, Any]) -> ReferralOut:
    reasons = referral_texts.verified_reasons(services, [row])
    return referral_out(row, reasons.get(int(row["referral_id"])))


@router.post("/{referral_id}/accept", responses=PROBLEM_RESPONSES, summary="Receiver accepts")
def accept(referral_id: IdPath, principal: CareProvider, services: ServicesDep) -> ReferralOut:
    return _transition(referral_id, "accept", "", principal, services)


@router.post("/{referral_id}/reject", responses=PROBLEM_RESPONSES, summary="Receiver rejects")
def reject(
    referral_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "reject", body.note, principal, services)


@router.post(
    "/{referral_id}/complete",
    responses=PROBLEM_RESPONSES,
    summary="Receiver completes the care episode",
)
def complete(
    referral_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "complete", body.note, principal, services)


@router.post("/{referral_id}/cancel", responses=PROBLEM_RESPONSES, summary="Referrer cancels")
def cancel(
    referral_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "cancel", body.note, principal, services)


@router.post(
    "/{referral_id}/withdraw",
    responses=PROBLEM_RESPONSES,
    summary="Relay a patient's signed withdrawal: the referral ends at once",
)
def withdraw(
    referral_id: IdPath, body: WithdrawIn, principal: PatientOrCare, services: ServicesDep
) -> ReferralOut:
    get_referral(referral_id, principal, services)  # 404/403 as for reading it
    # The patient pays nothing: a hosted member relays (a member caller relays itself).
    relayer_for(services, principal).referrals.withdraw_by_sig(
        referral_id, body.nonce, body.deadline, body.signature.to_sig()
    )
    services.metrics.chain_writes.labels("referral").inc()
    services.indexer.sync()
    return get_referral(referral_id, principal, services)


@router.get(
    "", responses={**PROBLEM_RESPONSES, **PAGED}, summary="List referrals (from the index), paged"
)
def list_referrals(
    principal: Anyone,
    services: ServicesDep,
    page: PageDep,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[ReferralOut]:
    party = None
    patients: str | tuple[str, ...] | None = patient
    if principal.kind is Kind.PATIENT:
        patients = patient_scope(principal, patient, "referrals")
    elif principal.kind is not Kind.REGULATOR:  # a member sees the referrals it is party to
        party = principal.member
    rows = services.index.referrals(
        patient=patients, party=party, after=page.cursor, limit=page.fetch
    )
    taken = page.take(rows, "referral_id")
    reasons = referral_texts.verified_reasons(services, taken)
    return [referral_out(r, reasons.get(int(r["referral_id"]))) for r in taken]


@router.get("/{referral_id}", responses=PROBLEM_RESPONSES, summary="One referral")
def get_referral(referral_id: IdPath, principal: Anyone, services: ServicesDep) -> ReferralOut:
    row = find_referral(services, referral_id, principal)
    if principal.kind in (Kind.MEMBER, Kind.STAFF) and principal.member.lower() not in (
        row["referrer"],
        row["receiver"],
    ):
        raise forbidden("members see the referrals they are a party to")
    return _out(services, row)


@router.get(
    "/{referral_id}/history",
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="A referral's status changes, in chain order (from the index), paged",
)
def history(
    referral_id: IdPath, principal: Anyone, services: ServicesDep, page: PageDep
) -> list[ReferralChangeOut]:
    get_referral(referral_id, principal, services)  # the same visibility as the referral
    changes = services.index.referral_history(referral_id, after=page.cursor, limit=page.fetch)
    return [
        ReferralChangeOut(
            from_status=ReferralStatus(int(c["from_status"])).name.lower(),
            to_status=ReferralStatus(int(c["to_status"])).name.lower(),
            by=c["by"],
            note_hash=c["note_hash"],
            block_number=c["block_number"],
            timestamp=c["timestamp"],
        )
        for c in page.take(changes, "id")
    ]


class ReferralTextOut(BaseModel):
    kind: str  # reason | reject | complete | cancel
    text: str
    salt: str  # 0x-hex, 32 bytes: recompute the commitment with crypto.text_commitment
    commitment: str  # the chain's (zero: the chain commits to no text of this kind)
    matches_chain: bool  # false: this text is not the one the chain commits to
    held_by: str  # the member whose gateway keeps it


class ReferralTextsOut(BaseModel):
    referral_id: int
    texts: list[ReferralTextOut]
    notes: list[str]  # texts the chain commits to that could not be had here, and why


@router.get(
    "/{referral_id}/texts",
    responses=PROBLEM_RESPONSES,
    summary="A referral's reason and notes with their salts, each checked against the chain "
    "(its parties, its patient, the regulator); held_here: only what this gateway keeps",
)
def texts(
    referral_id: IdPath, principal: Anyone, services: FreshServices, held_here: bool = False
) -> ReferralTextsOut:
    # Fresh: each text is checked against the chain's latest commitments, not a lagging index.
    row = find_referral(services, referral_id, principal)
    referral_texts.check_reader(principal, row)
    notes: list[str] = []
    if held_here:
        found = referral_texts.held_here(services, row)
    else:
        found, notes = referral_texts.gather(services, principal, row)
    return ReferralTextsOut(
        referral_id=referral_id,
        texts=[ReferralTextOut(**vars(t)) for t in found],
        notes=notes,
    )

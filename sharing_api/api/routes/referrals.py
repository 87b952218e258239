"""Referrals between members: create (on a consent or the patient's signature), accept,
reject, complete, cancel, list. The receiver's readers may then fetch the handed-over records."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import Anyone, CareProvider, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.routes.consents import AddressField, SignatureIn
from sharing_api.api.services import Services
from sharing_api.chain import Direction, ReferralStatus

router = APIRouter(prefix="/referrals", tags=["referrals"])
ZERO32 = b"\x00" * 32


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


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=1024)


class ReferralOut(BaseModel):
    referral_id: int
    patient: str
    referrer: str
    receiver: str
    direction: str
    record_ids: list[int]
    consent_id: int
    status: str
    block_number: int
    tx_hash: str


class ReferralChangeOut(BaseModel):
    """One ReferralStatusChanged event from the index: who moved the referral, and when."""

    from_status: str
    to_status: str
    by: str
    note_hash: str
    block_number: int
    timestamp: int


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest() if text else ZERO32


def referral_out(row: dict[str, Any]) -> ReferralOut:
    return ReferralOut(
        **{k: row[k] for k in ReferralOut.model_fields if k not in ("direction", "status")},
        direction=Direction(int(row["direction"])).name.lower(),
        status=ReferralStatus(int(row["status"])).name.lower(),
    )


def find_referral(services: Services, referral_id: int, principal: Principal) -> dict[str, Any]:
    row = services.index.referral(referral_id)
    if row is None:
        services.indexer.sync()
        row = services.index.referral(referral_id)
    if row is None:
        raise not_found(f"no referral {referral_id}")
    if principal.kind is Kind.PATIENT and row["patient"] != principal.subject.lower():
        raise forbidden("patients see their own referrals only")
    return row


@router.post("", status_code=201, responses=PROBLEM_RESPONSES, summary="Refer a patient")
def create(body: ReferralIn, principal: CareProvider, services: ServicesDep) -> ReferralOut:
    signer = services.signer(principal.member)
    direction = Direction.UP if body.direction == "up" else Direction.DOWN
    if (body.consent_id is None) == (body.patient_signature is None):
        raise ApiError(400, "give exactly one of consent_id or patient_signature")
    if body.consent_id is not None:
        referred = signer.referrals.create(
            body.patient,
            body.receiver,
            direction,
            body.record_ids,
            body.consent_id,
            _hash(body.reason),
        )
    else:
        assert body.patient_signature is not None
        referred = signer.referrals.create_with_sig(
            body.patient,
            body.receiver,
            direction,
            body.record_ids,
            body.patient_signature.deadline,
            body.patient_signature.signature.to_sig(),
            _hash(body.reason),
        )
    services.metrics.chain_writes.labels("referral").inc()
    services.indexer.sync()
    return referral_out(find_referral(services, referred.referral_id, principal))


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
        getattr(referrals, action)(referral_id, _hash(note))
    services.metrics.chain_writes.labels("referral").inc()
    services.indexer.sync()
    return referral_out(find_referral(services, referral_id, principal))


@router.post("/{referral_id}/accept", responses=PROBLEM_RESPONSES, summary="Receiver accepts")
def accept(referral_id: int, principal: CareProvider, services: ServicesDep) -> ReferralOut:
    return _transition(referral_id, "accept", "", principal, services)


@router.post("/{referral_id}/reject", responses=PROBLEM_RESPONSES, summary="Receiver rejects")
def reject(
    referral_id: int, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "reject", body.note, principal, services)


@router.post(
    "/{referral_id}/complete",
    responses=PROBLEM_RESPONSES,
    summary="Receiver completes the care episode",
)
def complete(
    referral_id: int, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "complete", body.note, principal, services)


@router.post("/{referral_id}/cancel", responses=PROBLEM_RESPONSES, summary="Referrer cancels")
def cancel(
    referral_id: int, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ReferralOut:
    return _transition(referral_id, "cancel", body.note, principal, services)


@router.get("", responses=PROBLEM_RESPONSES, summary="List referrals (from the index)")
def list_referrals(
    principal: Anyone,
    services: ServicesDep,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[ReferralOut]:
    if principal.kind is Kind.PATIENT:
        rows = services.index.referrals(patient=principal.subject)
    elif principal.kind is Kind.REGULATOR:
        rows = services.index.referrals(patient=patient)
    else:  # a member sees the referrals it is a party to
        rows = services.index.referrals(patient=patient, party=principal.member)
    return [referral_out(r) for r in rows]


@router.get("/{referral_id}", responses=PROBLEM_RESPONSES, summary="One referral")
def get_referral(referral_id: int, principal: Anyone, services: ServicesDep) -> ReferralOut:
    row = find_referral(services, referral_id, principal)
    if principal.kind in (Kind.MEMBER, Kind.STAFF) and principal.member.lower() not in (
        row["referrer"],
        row["receiver"],
    ):
        raise forbidden("members see the referrals they are a party to")
    return referral_out(row)


@router.get(
    "/{referral_id}/history",
    responses=PROBLEM_RESPONSES,
    summary="A referral's status changes, in chain order (from the index)",
)
def history(referral_id: int, principal: Anyone, services: ServicesDep) -> list[ReferralChangeOut]:
    get_referral(referral_id, principal, services)  # the same visibility as the referral
    return [
        ReferralChangeOut(
            from_status=ReferralStatus(int(c["from_status"])).name.lower(),
            to_status=ReferralStatus(int(c["to_status"])).name.lower(),
            by=c["by"],
            note_hash=c["note_hash"],
            block_number=c["block_number"],
            timestamp=c["timestamp"],
        )
        for c in services.index.referral_history(referral_id)
    ]

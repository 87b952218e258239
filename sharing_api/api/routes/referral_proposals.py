"""Referral proposals, the patient's referral inbox.

A member (or its staff) proposes to refer a patient; the patient sees the proposal in the
wallet and either accepts it, by signing the EIP-712 ReferralConsent in the browser, or
declines it. On accept the API checks the signature itself, then submits ``createWithSig`` as
the hosted referring member: the referral exists on chain only once the patient agreed, and
the patient never has to hand a signed body to anyone. Declining touches nothing on chain."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import CareProvider, PatientOrCare, ServicesDep, require
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.routes.consents import AddressField, SignatureIn
from sharing_api.api.routes.records import find_record
from sharing_api.api.routes.referrals import _hash
from sharing_api.api.services import Services
from sharing_api.chain import Direction
from sharing_api.chain.scopes import Category, Role
from sharing_api.chain.typed_data import referral_typed_data
from sharing_api.index.proposals import (
    ACCEPTED,
    ACCEPTING,
    DECLINED,
    PENDING,
    ProposalStore,
)

router = APIRouter(tags=["referral proposals"])
PatientOnly = Annotated[Principal, Depends(require(Kind.PATIENT))]
DAY = 24 * 3600
_store_lock = threading.Lock()


def get_store(request: Request) -> ProposalStore:
    """One store per app, created on first use over the index database's engine."""
    state = request.app.state
    with _store_lock:
        store: ProposalStore | None = getattr(state, "referral_proposals", None)
        if store is None:
            services: Services = state.services
            store = ProposalStore(services.index.engine)
            state.referral_proposals = store
    return store


StoreDep = Annotated[ProposalStore, Depends(get_store)]


class ProposalIn(BaseModel):
    patient: AddressField
    receiver: AddressField
    direction: str = Field(default="up", pattern=r"^(up|down)$")
    record_ids: list[Annotated[int, Field(ge=1)]] = Field(default=[], max_length=64)
    categories: list[str] = Field(
        default=[], max_length=16, description="add the patient's current records of these"
    )
    reason: str = Field(default="", max_length=1024)
    expires_in_s: Annotated[int, Field(ge=60, le=90 * DAY)] = 7 * DAY


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


def _record_ids(services: Services, body: ProposalIn) -> list[int]:
    ids = set(body.record_ids)
    for record_id in body.record_ids:
        if find_record(services, record_id)["patient"] != body.patient.lower():
            raise ApiError(400, f"record {record_id} is not this patient's")
    if body.categories:
        try:
            wanted = {int(Category.parse(c)) for c in body.categories}
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        services.indexer.sync()
        for row in services.index.records(patient=body.patient):
            if int(row["category"]) in wanted and not int(row["superseded_by"] or 0):
                ids.add(int(row["record_id"]))
    if not ids:
        raise ApiError(400, "the proposal hands over no records (give record_ids or categories)")
    if len(ids) > 64:
        raise ApiError(400, "at most 64 records per referral")
    return sorted(ids)


def _visible(row: dict[str, Any], principal: Principal) -> None:
    if principal.kind is Kind.PATIENT:
        if row["patient"] != principal.subject.lower():
            raise forbidden("patients see their own referral proposals only")
    elif principal.member.lower() not in (row["referrer"], row["receiver"]):
        raise forbidden("members see the proposals they are a party to")


def find_proposal(store: ProposalStore, proposal_id: int) -> dict[str, Any]:
    row = store.get(proposal_id)
    if row is None:
        raise not_found(f"no referral proposal {proposal_id}")
    return row


@router.post(
    "/referral-proposals",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Propose to refer a patient (the patient answers in the wallet)",
)
def propose(
    body: ProposalIn, principal: CareProvider, services: ServicesDep, store: StoreDep
) -> ProposalOut:
    services.signer(principal.member)  # 403 unless this API can submit for the referrer
    if body.receiver.lower() == principal.member.lower():
        raise ApiError(400, "a member cannot refer a patient to itself")
    if not services.roles_of(body.receiver) & (Role.HOSPITAL | Role.CLINIC):
        raise ApiError(400, f"{body.receiver} is not a hospital or clinic of the alliance")
    record_ids = _record_ids(services, body)
    row = store.add(
        patient=body.patient,
        referrer=principal.member,
        receiver=body.receiver,
        direction=int(Direction.UP if body.direction == "up" else Direction.DOWN),
        record_ids=record_ids,
        reason=body.reason,
        proposed_by=principal.subject,
        expires_at=int(time.time()) + body.expires_in_s,
    )
    return proposal_out(services, row)


@router.get(
    "/referral-proposals",
    responses=PROBLEM_RESPONSES,
    summary="The proposals my member made (or, with as=receiver, those naming it as receiver)",
)
def list_mine(
    principal: CareProvider,
    services: ServicesDep,
    store: StoreDep,
    as_: Annotated[str, Query(alias="as", pattern=r"^(referrer|receiver)$")] = "referrer",
) -> list[ProposalOut]:
    rows = (
        store.list(receiver=principal.member)
        if as_ == "receiver"
        else store.list(referrer=principal.member)
    )
    return [proposal_out(services, r) for r in rows]


@router.get(
    "/patients/me/referral-proposals",
    responses=PROBLEM_RESPONSES,
    summary="My referral proposals (patient), newest first",
)
def my_proposals(
    principal: PatientOnly, services: ServicesDep, store: StoreDep
) -> list[ProposalOut]:
    return [proposal_out(services, r) for r in store.list(patient=principal.subject)]


@router.get(
    "/referral-proposals/{proposal_id}",
    responses=PROBLEM_RESPONSES,
    summary="One proposal (its patient, referrer or receiver)",
)
def get_proposal(
    proposal_id: int, principal: PatientOrCare, services: ServicesDep, store: StoreDep
) -> ProposalOut:
    row = find_proposal(store, proposal_id)
    _visible(row, principal)
    return proposal_out(services, row)


def answerable(
    store: ProposalStore, proposal_id: int, patient: str, referrer: str | None = None
) -> dict[str, Any]:
    """The proposal, if ``patient`` is its patient and it still waits for an answer (and,
    given ``referrer``, that member made it: ids are per gateway, not alliance-wide)."""
    row = find_proposal(store, proposal_id)
    if referrer is not None and row["referrer"] != referrer.lower():
        raise not_found(f"{referrer} made no referral proposal {proposal_id}")
    if row["patient"] != patient.lower():
        raise forbidden("only the patient answers a referral proposal")
    if row["status"] != PENDING:
        raise ApiError(409, f"proposal {proposal_id} is already {row['status']}")
    if row["expires_at"] <= time.time():
        raise ApiError(409, f"proposal {proposal_id} expired")
    return row


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
        reason_hash=_hash(row["reason"]),
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


@router.post(
    "/referral-proposals/{proposal_id}/accept",
    responses=PROBLEM_RESPONSES,
    summary="The patient accepts: the referral is created on chain with their signature",
)
def accept(
    proposal_id: int,
    body: AcceptIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: StoreDep,
) -> ProposalOut:
    row = answerable(store, proposal_id, principal.subject)
    return accept_answer(services, store, row, body)


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
            _hash(row["reason"]),
        )
    except BaseException:
        store.release(proposal_id)
        raise
    services.metrics.chain_writes.labels("referral").inc()
    store.finish(
        proposal_id,
        status=ACCEPTED,
        referral_id=referred.referral_id,
        tx_hash=referred.sent.tx_hash,
    )
    services.indexer.sync()
    return proposal_out(services, find_proposal(store, proposal_id))


@router.post(
    "/referral-proposals/{proposal_id}/decline",
    responses=PROBLEM_RESPONSES,
    summary="The patient declines (nothing goes on chain)",
)
def decline(
    proposal_id: int,
    body: DeclineIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: StoreDep,
) -> ProposalOut:
    answerable(store, proposal_id, principal.subject)
    return decline_answer(services, store, proposal_id, body.note)


def decline_answer(
    services: Services, store: ProposalStore, proposal_id: int, note: str
) -> ProposalOut:
    if not store.claim(proposal_id, DECLINED):
        raise ApiError(409, f"proposal {proposal_id} was answered meanwhile")
    store.finish(proposal_id, note=note)
    return proposal_out(services, find_proposal(store, proposal_id))

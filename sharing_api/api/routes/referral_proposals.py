"""Referral proposals, the patient's referral inbox.

A member (or its staff) proposes to refer a patient; the patient sees the proposal in the
wallet and either accepts it, by signing the EIP-712 ReferralConsent in the browser, or
declines it. On accept the API checks the signature itself, then submits ``createWithSig`` as
the hosted referring member: the referral exists on chain only once the patient agreed, and
the patient never has to hand a signed body to anyone. Declining touches nothing on chain."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import CareProvider, PatientOnly, PatientOrCare, ProposalsDep, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden
from sharing_api.api.lookups import find_record
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.proposals import (
    AcceptIn,
    DeclineIn,
    ProposalOut,
    accept_answer,
    answerable,
    decline_answer,
    find_proposal,
    proposal_out,
)
from sharing_api.api.schemas import AddressField, IdPath
from sharing_api.api.services import Services
from sharing_api.chain import Direction
from sharing_api.chain.scopes import Category, Role

router = APIRouter(tags=["referral proposals"])
DAY = 24 * 3600


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
        if not principal.owns(row["patient"]):
            raise forbidden("patients see their own referral proposals only")
    elif principal.member.lower() not in (row["referrer"], row["receiver"]):
        raise forbidden("members see the proposals they are a party to")


@router.post(
    "/referral-proposals",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Propose to refer a patient (the patient answers in the wallet)",
)
def propose(
    body: ProposalIn, principal: CareProvider, services: ServicesDep, store: ProposalsDep
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
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="The proposals my member made (or, with as=receiver, those naming it as "
    "receiver), newest first, paged",
)
def list_mine(
    principal: CareProvider,
    services: ServicesDep,
    store: ProposalsDep,
    page: PageDep,
    as_: Annotated[str, Query(alias="as", pattern=r"^(referrer|receiver)$")] = "referrer",
) -> list[ProposalOut]:
    side = {"receiver" if as_ == "receiver" else "referrer": principal.member}
    rows = store.list(**side, before=page.cursor, limit=page.fetch)
    return [proposal_out(services, r) for r in page.take(rows, "proposal_id")]


@router.get(
    "/patients/me/referral-proposals",
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="My referral proposals (patient), newest first, paged",
)
def my_proposals(
    principal: PatientOnly, services: ServicesDep, store: ProposalsDep, page: PageDep
) -> list[ProposalOut]:
    rows = store.list(patient=principal.patients, before=page.cursor, limit=page.fetch)
    return [proposal_out(services, r) for r in page.take(rows, "proposal_id")]


@router.get(
    "/referral-proposals/{proposal_id}",
    responses=PROBLEM_RESPONSES,
    summary="One proposal (its patient, referrer or receiver)",
)
def get_proposal(
    proposal_id: IdPath, principal: PatientOrCare, services: ServicesDep, store: ProposalsDep
) -> ProposalOut:
    row = find_proposal(store, proposal_id)
    _visible(row, principal)
    return proposal_out(services, row)


@router.post(
    "/referral-proposals/{proposal_id}/accept",
    responses=PROBLEM_RESPONSES,
    summary="The patient accepts: the referral is created on chain with their signature",
)
def accept(
    proposal_id: IdPath,
    body: AcceptIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    row = answerable(store, proposal_id, principal.patients)
    return accept_answer(services, store, row, body)


@router.post(
    "/referral-proposals/{proposal_id}/decline",
    responses=PROBLEM_RESPONSES,
    summary="The patient declines (nothing goes on chain)",
)
def decline(
    proposal_id: IdPath,
    body: DeclineIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    answerable(store, proposal_id, principal.patients)
    return decline_answer(services, store, proposal_id, body.note)

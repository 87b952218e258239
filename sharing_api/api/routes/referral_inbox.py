"""The patient's alliance-wide referral inbox, served by their own gateway (the wallet's).

Listing needs the patient's signed inbox statement (it is what other gateways check); a
proposal is named by its referrer and id, and answered here when this gateway hosts the
referrer, else forwarded to the referrer's gateway (``api/alliance_inbox.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from sharing_api.api.alliance_inbox import (
    DeclineStatementIn,
    InboxOut,
    InboxStatementIn,
    PeerAcceptIn,
    PeerDeclineIn,
    forward,
    gather,
    relay_member,
)
from sharing_api.api.deps import PatientOnly, ProposalsDep, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError
from sharing_api.api.proposals import (
    AcceptIn,
    ProposalOut,
    accept_answer,
    answerable,
    decline_answer,
    proposal_out,
)
from sharing_api.api.schemas import IdPath
from sharing_api.gateway.inbox_auth import (
    InboxAuthError,
    check_decline_statement,
    check_inbox_statement,
)

router = APIRouter(prefix="/patients/me/referral-inbox", tags=["referral proposals"])
Referrer = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


@router.post(
    "",
    responses=PROBLEM_RESPONSES,
    summary="My referral proposals at every gateway (patient; body: my signed inbox statement)",
)
def inbox(
    body: InboxStatementIn, principal: PatientOnly, services: ServicesDep, store: ProposalsDep
) -> InboxOut:
    patient = principal.subject
    try:
        # Checked here too, so a bad statement is one clear 400, not a note per gateway.
        check_inbox_statement(
            patient,
            relay_member(services),
            services.deployment.chain_id,
            body.expires,
            body.signature,
        )
    except InboxAuthError as exc:
        raise ApiError(400, str(exc)) from None
    local = [proposal_out(services, r) for r in store.list(patient=patient)]
    return gather(services, patient, body, local)


@router.post(
    "/{referrer}/{proposal_id}/accept",
    responses=PROBLEM_RESPONSES,
    summary="Accept a proposal held by any gateway (patient; my ReferralConsent signature)",
)
async def accept(
    referrer: Referrer,
    proposal_id: IdPath,
    body: AcceptIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    patient = principal.subject

    def answer() -> ProposalOut:
        if services.hosts(referrer):
            row = answerable(store, proposal_id, patient, referrer)
            return accept_answer(services, store, row, body)
        relayed = PeerAcceptIn(patient=patient, referrer=referrer, **body.model_dump())
        return forward(services, referrer, proposal_id, "accept", relayed)

    return await run_in_threadpool(answer)


@router.post(
    "/{referrer}/{proposal_id}/decline",
    responses=PROBLEM_RESPONSES,
    summary="Decline a proposal held by any gateway (patient; my signed decline)",
)
async def decline(
    referrer: Referrer,
    proposal_id: IdPath,
    body: DeclineStatementIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    patient = principal.subject

    def answer() -> ProposalOut:
        try:
            check_decline_statement(
                patient,
                referrer,
                proposal_id,
                body.note,
                services.deployment.chain_id,
                body.expires,
                body.signature,
            )
        except InboxAuthError as exc:
            raise ApiError(400, str(exc)) from None
        if services.hosts(referrer):
            answerable(store, proposal_id, patient, referrer)
            return decline_answer(services, store, proposal_id, body.note)
        relayed = PeerDeclineIn(patient=patient, referrer=referrer, **body.model_dump())
        return forward(services, referrer, proposal_id, "decline", relayed)

    return await run_in_threadpool(answer)

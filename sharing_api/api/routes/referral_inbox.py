"""The patient's alliance-wide referral inbox, served by their own gateway (the wallet's).

Listing needs the patient's signed inbox statement (it is what other gateways check), and
one per pseudonym the token proves whose proposals the patient wants too. A proposal is
named by its referrer and id, and answered here when this gateway hosts the referrer, else
forwarded to the referrer's gateway (``api/alliance_inbox.py``). An answer is given as the
address the proposal names (``patient``, default the primary), which the token must prove:
that pseudonym's key signs it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from sharing_api.api.alliance_inbox import (
    DeclineStatementIn,
    InboxAcceptIn,
    InboxDeclineIn,
    InboxIn,
    InboxOut,
    PeerAcceptIn,
    PeerDeclineIn,
    forward,
    gather,
    relay_member,
)
from sharing_api.api.core.security import Principal
from sharing_api.api.deps import PatientOnly, ProposalsDep, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden
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
    check_inbox_statements,
)

router = APIRouter(prefix="/patients/me/referral-inbox", tags=["referral proposals"])
Referrer = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


@router.post(
    "",
    responses=PROBLEM_RESPONSES,
    summary="My referral proposals at every gateway (patient; body: my signed inbox "
    "statement, and one per pseudonym)",
)
def inbox(
    body: InboxIn, principal: PatientOnly, services: ServicesDep, store: ProposalsDep
) -> InboxOut:
    primary = principal.subject
    for entry in body.pseudonyms:
        if entry.patient.lower() == primary.lower():
            raise ApiError(400, f"{entry.patient} is the signed-in address: not a pseudonym")
        if not principal.owns(entry.patient):
            raise ApiError(400, f"{entry.patient} is not a pseudonym proven at sign-in")
    try:
        # Checked here too, so a bad statement is one clear 400, not a note per gateway.
        patients = check_inbox_statements(
            body.statements(primary), relay_member(services), services.deployment.chain_id
        )
    except InboxAuthError as exc:
        raise ApiError(400, str(exc)) from None
    local = [proposal_out(services, r) for r in store.list(patient=patients)]
    return gather(services, primary, body, local)


def _answering(principal: Principal, patient: str | None) -> str:
    """The address that answers: the one the proposal names, proven at sign-in."""
    if patient is None:
        return principal.subject
    if not principal.owns(patient):
        raise forbidden(f"{patient} is not one of the addresses proven at sign-in")
    return patient


@router.post(
    "/{referrer}/{proposal_id}/accept",
    responses=PROBLEM_RESPONSES,
    summary="Accept a proposal held by any gateway (patient; the ReferralConsent signature of "
    "the address it names)",
)
async def accept(
    referrer: Referrer,
    proposal_id: IdPath,
    body: InboxAcceptIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    patient = _answering(principal, body.patient)
    terms = AcceptIn.model_validate(body.model_dump(exclude={"patient"}))

    def answer() -> ProposalOut:
        if services.hosts(referrer):
            row = answerable(store, proposal_id, patient, referrer)
            return accept_answer(services, store, row, terms)
        relayed = PeerAcceptIn(patient=patient, referrer=referrer, **terms.model_dump())
        return forward(services, referrer, proposal_id, "accept", relayed)

    return await run_in_threadpool(answer)


@router.post(
    "/{referrer}/{proposal_id}/decline",
    responses=PROBLEM_RESPONSES,
    summary="Decline a proposal held by any gateway (patient; a decline signed by the address "
    "it names)",
)
async def decline(
    referrer: Referrer,
    proposal_id: IdPath,
    body: InboxDeclineIn,
    principal: PatientOnly,
    services: ServicesDep,
    store: ProposalsDep,
) -> ProposalOut:
    patient = _answering(principal, body.patient)
    statement = DeclineStatementIn.model_validate(body.model_dump(exclude={"patient"}))

    def answer() -> ProposalOut:
        try:
            check_decline_statement(
                patient,
                referrer,
                proposal_id,
                statement.note,
                services.deployment.chain_id,
                statement.expires,
                statement.signature,
            )
        except InboxAuthError as exc:
            raise ApiError(400, str(exc)) from None
        if services.hosts(referrer):
            answerable(store, proposal_id, patient, referrer)
            return decline_answer(services, store, proposal_id, statement.note)
        relayed = PeerDeclineIn(patient=patient, referrer=referrer, **statement.model_dump())
        return forward(services, referrer, proposal_id, "decline", relayed)

    return await run_in_threadpool(answer)

"""Gateway to gateway: a patient's home gateway asks this one about the referral proposals
its members made (design in ``api/alliance_inbox.py`` and ``gateway/inbox_auth.py``).

No bearer token. Every request is signed by the relaying member's ledger key, addressed to a
member hosted here, over the exact body (else 401); the relay must be a member of the
alliance (else 403). Then the patient's own authorisation, checked here and never taken on
the relay's word (else 403): for a listing, the patient's inbox statement naming that relay
and this chain, and the same statement by each pseudonym listed (every one checked); for
an accept, the patient's EIP-712 ReferralConsent, checked exactly as for a local accept
before this gateway submits ``createWithSig`` as the referrer; for a decline, the patient's
signed decline of exactly that proposal.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from sharing_api.api.alliance_inbox import PeerAcceptIn, PeerDeclineIn, PeerInboxIn, PeerInboxOut
from sharing_api.api.deps import ProposalsDep, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.proposals import (
    ProposalOut,
    accept_answer,
    answerable,
    decline_answer,
    proposal_out,
)
from sharing_api.api.record_labels import local_labels
from sharing_api.api.schemas import IdPath
from sharing_api.api.services import Services
from sharing_api.gateway.inbox_auth import (
    InboxAuthError,
    RelayRequest,
    check_decline_statement,
    check_inbox_statements,
    verify_relay,
)
from sharing_api.index.proposals import ProposalStore

router = APIRouter(prefix="/gateway/referral-proposals", tags=["gateway"])
Body = TypeVar("Body", bound=BaseModel)
# An inbox request carries up to MAX_PSEUDONYMS + 1 statements of about 240 bytes each.
MAX_BODY = 32 * 1024


async def _relayed(
    request: Request, services: Services, model: type[Body]
) -> tuple[RelayRequest, Body]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "the relayed request is too large")
    try:
        relay = verify_relay(request.headers, request.method, request.url.path, raw)
    except InboxAuthError as exc:
        raise ApiError(401, str(exc), "Unauthorized") from None
    if not services.hosts(relay.to):
        raise not_found(f"{relay.to} is not hosted by this gateway")
    if not await run_in_threadpool(services.is_member, relay.relay):
        raise forbidden(f"{relay.relay} is not a member of the alliance")
    try:
        return relay, model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(422, f"the relayed body is not valid: {exc.errors()[0]['msg']}") from None


def _chain_id(services: Services) -> int:
    return int(services.deployment.chain_id)


def _own_proposal(
    services: Services, store: ProposalStore, proposal_id: int, patient: str, referrer: str
) -> dict[str, Any]:
    """The pending proposal of this patient that ``referrer``, a member hosted here, made."""
    if not services.hosts(referrer):
        raise not_found(f"{referrer} is not hosted by this gateway")
    return answerable(store, proposal_id, patient, referrer)


@router.post(
    "/inbox",
    responses=PROBLEM_RESPONSES,
    summary="A patient's referral proposals held here (relayed, with the patient's statement)",
)
async def inbox(request: Request, services: ServicesDep, store: ProposalsDep) -> PeerInboxOut:
    relay, body = await _relayed(request, services, PeerInboxIn)

    def answer() -> PeerInboxOut:
        try:
            # Every statement (the primary's, each pseudonym's) as one alone: any bad one
            # refuses the request, so a relay cannot slip in an address it was not given.
            patients = check_inbox_statements(
                body.statements(body.patient), relay.relay, _chain_id(services)
            )
        except InboxAuthError as exc:
            raise forbidden(f"no valid statement from the patient: {exc}") from None
        rows = [r for r in store.list(patient=patients) if services.hosts(r["referrer"])]
        return PeerInboxOut(
            proposals=[proposal_out(services, r) for r in rows],
            labels=local_labels(services, patients),
        )

    return await run_in_threadpool(answer)


@router.post(
    "/{proposal_id}/accept",
    responses=PROBLEM_RESPONSES,
    summary="Accept a proposal made here (relayed patient's ReferralConsent)",
)
async def accept(
    proposal_id: IdPath, request: Request, services: ServicesDep, store: ProposalsDep
) -> ProposalOut:
    _, body = await _relayed(request, services, PeerAcceptIn)

    def answer() -> ProposalOut:
        row = _own_proposal(services, store, proposal_id, body.patient, body.referrer)
        return accept_answer(services, store, row, body)

    return await run_in_threadpool(answer)


@router.post(
    "/{proposal_id}/decline",
    responses=PROBLEM_RESPONSES,
    summary="Decline a proposal made here (relayed patient's signed decline)",
)
async def decline(
    proposal_id: IdPath, request: Request, services: ServicesDep, store: ProposalsDep
) -> ProposalOut:
    _, body = await _relayed(request, services, PeerDeclineIn)

    def answer() -> ProposalOut:
        try:
            check_decline_statement(
                body.patient,
                body.referrer,
                proposal_id,
                body.note,
                _chain_id(services),
                body.expires,
                body.signature,
            )
        except InboxAuthError as exc:
            raise forbidden(f"no valid decline from the patient: {exc}") from None
        _own_proposal(services, store, proposal_id, body.patient, body.referrer)
        return decline_answer(services, store, proposal_id, body.note)

    return await run_in_threadpool(answer)

"""FHIR R4 views of the chain's facts (sharing_api/fhir_export), under the same visibility
as the routes they mirror:

- ``GET /fhir/Consent/{id}``: as ``GET /consents/{id}`` (its patient, the members it is
  granted to, the regulator);
- ``GET /fhir/Task/{referral_id}``: a Bundle of the referral's ServiceRequest and Task, as
  ``GET /referrals/{id}`` (its patient, its two parties, the regulator);
- ``GET /fhir/Task/consultation-{id}``: the same for a consultation (its Task's id), as
  ``GET /consultations/{id}`` (its patient, requester and consultant, the regulator);
- ``GET /fhir/AuditEvent``: a Bundle of IHE BALP AuditEvents: the regulator every one, a
  patient those about them, a member its own reads and the consents, referrals and
  consultations it is a party to (fhir_export/audit_log.py). ``limit`` rows of each kind
  per page; the Bundle's ``next`` link continues each kind after its last row."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from sharing_api.api.core.security import Kind
from sharing_api.api.deps import Anyone, FreshServices, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, not_found
from sharing_api.api.lookups import names, patient_scope
from sharing_api.api.routes.consents import find_consent
from sharing_api.api.routes.consultations import find as find_consultation
from sharing_api.api.routes.referrals import get_referral
from sharing_api.api.schemas import AddressQuery, IdPath
from sharing_api.fhir_export.audit_log import KINDS, Scope, audit_bundle_of, audit_page
from sharing_api.fhir_export.consent import consent_resource
from sharing_api.fhir_export.consultation import consultation_bundle
from sharing_api.fhir_export.referral import referral_bundle


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


router = APIRouter(prefix="/fhir", tags=["fhir"], default_response_class=FhirJSONResponse)
RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    200: {"content": {"application/fhir+json": {}}},
}
KindQuery = Annotated[
    str | None,
    Query(pattern="^(" + "|".join(KINDS) + ")$", description="only events of this kind"),
]
LimitQuery = Annotated[
    int, Query(ge=1, le=100_000, description="at most this many of each kind, oldest first")
]
_KIND_AT = "(" + "|".join(KINDS) + r"):\d{1,18}"
PageQuery = Annotated[
    str | None,
    Query(
        pattern=f"^{_KIND_AT}(,{_KIND_AT}){{0,{len(KINDS) - 1}}}$",
        description="the next page: as in the previous Bundle's `next` link",
    ),
]


def parse_page(page: str | None) -> dict[str, int] | None:
    """``kind:id,...`` (the pattern above checked it) -> {kind: id}."""
    if page is None:
        return None
    return {kind: int(at) for kind, at in (part.split(":") for part in page.split(","))}


def page_of(after: dict[str, int]) -> str:
    return ",".join(f"{kind}:{at}" for kind, at in after.items())


@router.get(
    "/Consent/{consent_id}", responses=RESPONSES, summary="A consent as an R4 Consent resource"
)
def consent(consent_id: IdPath, principal: Anyone, services: ServicesDep) -> dict[str, Any]:
    row = find_consent(services, consent_id, principal)
    return consent_resource(row, int(time.time()), names(services))


# Before /Task/{referral_id}, which would otherwise take "consultation-5" and refuse it (422).
@router.get(
    "/Task/consultation-{consultation_id}",
    responses=RESPONSES,
    summary="A consultation as a Bundle of its ServiceRequest and Task (R4)",
)
def consultation_task(
    consultation_id: IdPath, principal: Anyone, services: ServicesDep
) -> dict[str, Any]:
    row = find_consultation(services, consultation_id, principal)  # its visibility
    steps = services.consultations.steps(consultation_id)
    return consultation_bundle(row, steps, int(time.time()), names(services))


@router.get(
    "/Task/referral-{referral_id}",
    responses=RESPONSES,
    summary="A referral as a Bundle of its ServiceRequest and Task (R4), by its Task id",
)
def referral_task_by_id(
    referral_id: IdPath, principal: Anyone, services: ServicesDep
) -> dict[str, Any]:
    """The URL the exports' ``Task/referral-N`` references resolve to."""
    return referral_task(referral_id, principal, services)


@router.get(
    "/Task/{referral_id}",
    responses=RESPONSES,
    summary="A referral as a Bundle of its ServiceRequest and Task (R4)",
)
def referral_task(referral_id: IdPath, principal: Anyone, services: ServicesDep) -> dict[str, Any]:
    get_referral(referral_id, principal, services)  # the same visibility as the referral
    row = services.index.referral(referral_id)
    if row is None:  # cannot happen after get_referral; kept for the type checker
        raise not_found(f"no referral {referral_id}")
    changes = services.index.referral_history(referral_id)
    return referral_bundle(row, changes, int(time.time()), names(services))


@router.get(
    "/AuditEvent",
    responses=RESPONSES,
    summary="Accesses, consent decisions, referral and consultation steps you may see, as a "
    "Bundle of IHE BALP AuditEvents (R4), oldest first",
)
def audit_event_bundle(
    request: Request,
    principal: Anyone,
    services: FreshServices,
    patient: AddressQuery = None,
    kind: KindQuery = None,
    limit: LimitQuery = 10_000,
    page: PageQuery = None,
) -> dict[str, Any]:
    if principal.kind is Kind.REGULATOR:
        scope = Scope(patients=patient)
    elif principal.kind is Kind.PATIENT:
        scope = Scope(patients=patient_scope(principal, patient, "audit events"))
    else:  # a member or its staff: what the member is a party to
        roles = int(services.roles_of(principal.member))
        scope = Scope(patients=patient, member=principal.member, member_roles=roles)
    found = audit_page(
        services.index,
        scope,
        kinds=(kind,) if kind else KINDS,
        names=names(services),
        limit=limit,
        after=parse_page(page),
    )
    more = found.next_after
    next_url = str(request.url.include_query_params(page=page_of(more))) if more else None
    return audit_bundle_of(found.events, int(time.time()), next_url)

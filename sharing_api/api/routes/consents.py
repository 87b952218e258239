"""Consents: relay a patient's signed EIP-712 grant or revocation; list; FHIR export.

Who sees a consent: its patient; a member (and its staff) it is granted to, by address or by
a role the member holds on chain; the regulator (all of them). Anyone else gets 403 for one
consent and lists that leave it out. A member relaying a patient's signed grant or revocation
gets the result back (it holds the patient's signed terms)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from sharing_api.api.core.limits import client_key
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import Anyone, PatientOrCare, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.lookups import names, patient_scope, relayer_for
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import (
    AddressField,
    ConsentOut,
    Hex32,
    IdPath,
    SignatureIn,
    consent_out,
)
from sharing_api.api.services import Services
from sharing_api.chain import Category, GrantTerms, Purpose
from sharing_api.chain.scopes import mask
from sharing_api.fhir_export.consent import consent_resource

router = APIRouter(prefix="/consents", tags=["consents"])

U40 = Annotated[int, Field(ge=0, lt=2**40)]
U256 = Annotated[int, Field(ge=0, lt=2**256)]


class GrantIn(BaseModel):
    """The Grant exactly as the patient signed it (EIP-712, domain AllianceConsent)."""

    patient: AddressField
    grantee: AddressField
    grantee_role: Annotated[int, Field(ge=0, le=255)] = 0
    categories: list[str] = Field(min_length=1, max_length=16)
    purposes: list[str] = Field(min_length=1, max_length=8)
    valid_from: U40
    valid_until: U40
    document_hash: Hex32 = "0x" + "00" * 32
    nonce: U256
    deadline: U256
    signature: SignatureIn

    def terms(self) -> GrantTerms:
        return GrantTerms(
            patient=self.patient,
            grantee=self.grantee,
            grantee_role=self.grantee_role,
            categories=mask(Category.parse(c) for c in self.categories),
            purposes=mask(Purpose.parse(p) for p in self.purposes),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            document_hash=bytes.fromhex(self.document_hash[2:]),
            nonce=self.nonce,
            deadline=self.deadline,
        )


class RevokeIn(BaseModel):
    nonce: U256
    deadline: U256
    signature: SignatureIn


class DomainOut(BaseModel):
    chain_id: int
    consent_registry: str
    referral_registry: str
    nonce: int | None = None


def limit_relay(services: Services, request: Request, patient: str) -> None:
    """Each relay costs the alliance a transaction: limit them per client IP and per
    patient, whoever signs the request in."""
    client = client_key(request.client.host if request.client else None)
    services.limits.hit("consent_per_ip", client, what="consent relays from your address")
    services.limits.hit("consent_per_patient", patient, what="consent relays for this patient")


def require_known_patient(services: Services, patient: str) -> None:
    """Consents are relayed only for patients a member has verified (real-name) and
    attested on chain: otherwise any fresh key could make the alliance pay for its grants."""
    if not services.reader.consents.is_known_patient(patient):
        raise ApiError(
            403,
            f"patient {patient} is not known to the alliance: ask a member (a hospital or "
            "clinic that can check your identity) to verify you and attest your address "
            f"(`alliance patient attest {patient}`), then sign the consent again",
            "Unknown Patient",
        )


def is_party(services: Services, principal: Principal, row: dict[str, Any]) -> bool:
    """May this caller see this consent (see the module's docstring)?"""
    if principal.kind is Kind.REGULATOR:
        return True
    if principal.kind is Kind.PATIENT:
        return principal.owns(row["patient"])
    if row["grantee"] == principal.member.lower():
        return True
    role = int(row["grantee_role"])
    return bool(role and role & int(services.roles_of(principal.member)))


def find_consent(
    services: Services, consent_id: int, principal: Principal, *, relayed: bool = False
) -> dict[str, Any]:
    """The consent, if the caller may see it (403 if not); ``relayed``: a member relaying
    the patient's signed grant or revocation of it may, grantee or not."""
    row = services.index.consent(consent_id)
    if row is None:
        services.indexer.sync()
        row = services.index.consent(consent_id)
    if row is None:
        raise not_found(f"no consent {consent_id}")
    if principal.kind is Kind.PATIENT and not principal.owns(row["patient"]):
        raise forbidden("patients see their own consents only")
    if not relayed and not is_party(services, principal, row):
        raise forbidden(f"consent {consent_id} is not granted to your member")
    return row


@router.get("/domain", summary="EIP-712 domain facts and the patient's next nonce")
def domain(
    services: ServicesDep,
    _: Anyone,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> DomainOut:
    a = services.deployment.addresses
    nonce = services.reader.consents.nonce_of(patient) if patient else None
    return DomainOut(
        chain_id=services.deployment.chain_id,
        consent_registry=a["ConsentRegistry"],
        referral_registry=a["ReferralRegistry"],
        nonce=nonce,
    )


@router.post(
    "",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Relay a patient's signed consent grant",
)
def grant(
    body: GrantIn, request: Request, principal: PatientOrCare, services: ServicesDep
) -> ConsentOut:
    if principal.kind is Kind.PATIENT and not principal.owns(body.patient):
        raise forbidden("a patient relays only their own grants")
    limit_relay(services, request, body.patient)
    require_known_patient(services, body.patient)
    granted = relayer_for(services, principal).consents.grant_by_sig(
        body.terms(), body.signature.to_sig()
    )
    services.metrics.chain_writes.labels("consent").inc()
    services.indexer.sync()
    return consent_out(find_consent(services, granted.consent_id, principal, relayed=True))


@router.post(
    "/{consent_id}/revoke",
    responses=PROBLEM_RESPONSES,
    summary="Relay a patient's signed revocation",
)
def revoke(
    consent_id: IdPath,
    body: RevokeIn,
    request: Request,
    principal: PatientOrCare,
    services: ServicesDep,
) -> ConsentOut:
    row = find_consent(services, consent_id, principal, relayed=True)
    limit_relay(services, request, str(row["patient"]))
    relayer_for(services, principal).consents.revoke_by_sig(
        consent_id, body.nonce, body.deadline, body.signature.to_sig()
    )
    services.metrics.chain_writes.labels("revoke").inc()
    services.indexer.sync()
    return consent_out(find_consent(services, int(row["consent_id"]), principal, relayed=True))


@router.get(
    "",
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="List the consents you are party to (from the index; the regulator: all), paged",
)
def list_consents(
    principal: Anyone,
    services: ServicesDep,
    page: PageDep,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[ConsentOut]:
    if principal.kind is Kind.PATIENT:
        rows = services.index.consents(
            patient=patient_scope(principal, patient, "consents"),
            after=page.cursor,
            limit=page.fetch,
        )
    elif principal.kind is Kind.REGULATOR:
        rows = services.index.consents(patient=patient, after=page.cursor, limit=page.fetch)
    else:  # a member and its staff: the consents granted to it (by address or role)
        roles = int(services.roles_of(principal.member))
        rows = services.index.consents(
            patient=patient,
            grantee=principal.member,
            grantee_roles=roles,
            after=page.cursor,
            limit=page.fetch,
        )
    return [consent_out(r) for r in page.take(rows, "consent_id")]


@router.get("/{consent_id}", responses=PROBLEM_RESPONSES, summary="One consent you are party to")
def get_consent(consent_id: IdPath, principal: Anyone, services: ServicesDep) -> ConsentOut:
    return consent_out(find_consent(services, consent_id, principal))


@router.get(
    "/{consent_id}/fhir",
    responses=PROBLEM_RESPONSES,
    summary="The consent as a FHIR R4 Consent resource",
)
def consent_fhir(consent_id: IdPath, principal: Anyone, services: ServicesDep) -> dict[str, Any]:
    row = find_consent(services, consent_id, principal)
    return consent_resource(row, int(time.time()), names(services))

"""The patient's own view (patients only): my records with their custodian's name and date,
and every access to them from the chain's AccessLog, with the reader's name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from sharing_api.api.alliance_inbox import relay_member
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import FreshServices, ServicesDep, require
from sharing_api.api.errors import PROBLEM_RESPONSES, forbidden
from sharing_api.api.lookups import names
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import AccessOut, RecordOut, access_out, record_out

router = APIRouter(prefix="/patients/me", tags=["patients"])
PatientOnly = Annotated[Principal, Depends(require(Kind.PATIENT))]


class MyRecordOut(RecordOut):
    custodian_name: str
    timestamp: int  # the registering block's time (unix seconds)


class MyAccessOut(AccessOut):
    reader_name: str
    category: str


class SigningOut(BaseModel):
    """What the wallet needs besides the typed-data layout to sign for this patient: the
    EIP-712 domains' chain and contracts, and the patient's next nonce at each registry."""

    chain_id: int
    consent_registry: str
    referral_registry: str
    consent_nonce: int
    referral_nonce: int
    inbox_relay: str  # the member this gateway asks other gateways as (inbox statement)


@router.get(
    "/records", responses={**PROBLEM_RESPONSES, **PAGED}, summary="My records (patient), paged"
)
def my_records(principal: PatientOnly, services: FreshServices, page: PageDep) -> list[MyRecordOut]:
    named = names(services)
    found = services.index.records(patient=principal.patients, after=page.cursor, limit=page.fetch)
    return [
        MyRecordOut(
            **record_out(r).model_dump(),
            custodian_name=named.get(r["custodian"], ""),
            timestamp=int(r["timestamp"]),  # the indexer keeps the registering block's time
        )
        for r in page.take(found, "record_id")
    ]


@router.get(
    "/accesses",
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="Every logged access to my records: who, when, on what basis, for what "
    "(patient), paged",
)
def my_accesses(
    principal: PatientOnly, services: FreshServices, page: PageDep
) -> list[MyAccessOut]:
    named = names(services)
    categories = {
        r.record_id: r.category
        for r in map(record_out, services.index.records(patient=principal.patients))
    }
    return [
        MyAccessOut(
            **access_out(row).model_dump(),
            reader_name=named.get(str(row["reader"]), ""),
            category=categories.get(int(row["record_id"]), ""),
        )
        for row in page.take(
            services.index.accesses(
                patient=principal.patients, after=page.cursor, limit=page.fetch
            ),
            "access_id",
        )
    ]


@router.get(
    "/signing",
    responses=PROBLEM_RESPONSES,
    summary="EIP-712 domains and my next consent and referral nonces (patient)",
)
def signing(
    principal: PatientOnly,
    services: ServicesDep,
    patient: Annotated[
        str | None,
        Query(
            pattern=r"^0x[0-9a-fA-F]{40}$",
            description="the pseudonym about to sign (one proven at sign-in); default: primary",
        ),
    ] = None,
) -> SigningOut:
    a = services.deployment.addresses
    if patient is not None and not principal.owns(patient):
        raise forbidden("sign in with that pseudonym first: it is not one of yours")
    signer = patient or principal.subject
    return SigningOut(
        chain_id=services.deployment.chain_id,
        consent_registry=a["ConsentRegistry"],
        referral_registry=a["ReferralRegistry"],
        consent_nonce=services.reader.consents.nonce_of(signer),
        referral_nonce=services.reader.referrals.nonce_of(signer),
        inbox_relay=relay_member(services),
    )

"""Audit (regulator, read-only): accesses, consents, referrals, the break-glass queue, and a
FHIR AuditEvent bundle. Everything comes from the index; nothing scans the chain. Members may
justify their own break-glass accesses here."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sharing_api.api.deps import CareProvider, FreshServices, Regulator
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.fhir_export import audit_bundle
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import (
    AccessOut,
    AddressQuery,
    ConsentOut,
    IdPath,
    IdQuery,
    ReferralOut,
    access_out,
    consent_out,
    referral_out,
)
from sharing_api.chain import Basis

router = APIRouter(prefix="/audit", tags=["audit"])
LISTED = {**PROBLEM_RESPONSES, **PAGED}


class JustifyIn(BaseModel):
    justification: str = Field(min_length=1, max_length=4096)


class SummaryOut(BaseModel):
    records: int
    consents: int
    revoked_consents: int
    referrals: int
    accesses: int
    break_glass: int
    break_glass_unjustified: int


@router.get("/accesses", responses=LISTED, summary="Every logged access, paged")
def accesses(
    _: Regulator,
    services: FreshServices,
    page: PageDep,
    patient: AddressQuery = None,
    reader: AddressQuery = None,
    record_id: IdQuery = None,
) -> list[AccessOut]:
    rows = services.index.accesses(
        patient=patient, reader=reader, record_id=record_id, after=page.cursor, limit=page.fetch
    )
    return [access_out(r) for r in page.take(rows, "access_id")]


@router.get("/consents", responses=LISTED, summary="Every consent, paged")
def consents(
    _: Regulator, services: FreshServices, page: PageDep, patient: AddressQuery = None
) -> list[ConsentOut]:
    rows = services.index.consents(patient=patient, after=page.cursor, limit=page.fetch)
    return [consent_out(r) for r in page.take(rows, "consent_id")]


@router.get("/referrals", responses=LISTED, summary="Every referral, paged")
def referrals(
    _: Regulator, services: FreshServices, page: PageDep, patient: AddressQuery = None
) -> list[ReferralOut]:
    rows = services.index.referrals(patient=patient, after=page.cursor, limit=page.fetch)
    return [referral_out(r) for r in page.take(rows, "referral_id")]


@router.get(
    "/break-glass",
    responses=LISTED,
    summary="Break-glass accesses, unjustified by default (review queue), paged",
)
def break_glass(
    _: Regulator, services: FreshServices, page: PageDep, include_justified: bool = False
) -> list[AccessOut]:
    rows = services.index.accesses(
        basis=int(Basis.BREAK_GLASS),
        unjustified=not include_justified,
        after=page.cursor,
        limit=page.fetch,
    )
    return [access_out(r) for r in page.take(rows, "access_id")]


@router.get("/summary", responses=PROBLEM_RESPONSES, summary="Counts for the audit console")
def summary(_: Regulator, services: FreshServices) -> SummaryOut:
    idx = services.index
    all_consents = idx.consents()
    bg = idx.accesses(basis=int(Basis.BREAK_GLASS))
    return SummaryOut(
        records=len(idx.records()),
        consents=len(all_consents),
        revoked_consents=sum(1 for c in all_consents if c["revoked"]),
        referrals=len(idx.referrals()),
        accesses=len(idx.accesses()),
        break_glass=len(bg),
        break_glass_unjustified=sum(1 for a in bg if not a["justified"]),
    )


@router.get(
    "/fhir",
    responses=PROBLEM_RESPONSES,
    summary="Accesses as a FHIR R4 Bundle of AuditEvent resources",
)
def fhir(_: Regulator, services: FreshServices, patient: AddressQuery = None) -> dict[str, Any]:
    return audit_bundle(services.index.accesses(patient=patient), int(time.time()))


@router.post(
    "/break-glass/{access_id}/justify",
    responses=PROBLEM_RESPONSES,
    summary="The reader's member justifies a break-glass access",
)
def justify(
    access_id: IdPath, body: JustifyIn, principal: CareProvider, services: FreshServices
) -> AccessOut:
    found = services.index.accesses(basis=int(Basis.BREAK_GLASS))
    row = next((a for a in found if int(a["access_id"]) == access_id), None)
    if row is None:
        raise not_found(f"no break-glass access {access_id}")
    if row["reader"] != principal.member.lower():
        raise forbidden("only the reader's member may justify its break-glass access")
    if row["justified"]:
        raise ApiError(409, f"break-glass access {access_id} is already justified", "Conflict")
    digest = hashlib.sha256(body.justification.encode()).digest()
    services.signer(principal.member).access.justify(access_id, digest)
    services.metrics.chain_writes.labels("justify").inc()
    services.indexer.sync()
    updated = services.index.accesses(record_id=int(row["record_id"]))
    return access_out(next(a for a in updated if int(a["access_id"]) == access_id))

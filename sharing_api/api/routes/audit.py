"""Audit (regulator, read-only): accesses, consents, referrals, the break-glass queue, and a
FHIR AuditEvent bundle. Everything comes from the index; nothing scans the chain. Members may
justify their own break-glass accesses here."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sharing_api.api.deps import CareProvider, FreshServices, Regulator
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.fhir_export import audit_bundle
from sharing_api.api.schemas import (
    AccessOut,
    AddressQuery,
    ConsentOut,
    ReferralOut,
    access_out,
    consent_out,
    referral_out,
)
from sharing_api.chain import Basis

router = APIRouter(prefix="/audit", tags=["audit"])


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


@router.get("/accesses", responses=PROBLEM_RESPONSES, summary="Every logged access")
def accesses(
    _: Regulator,
    services: FreshServices,
    patient: AddressQuery = None,
    reader: AddressQuery = None,
    record_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[AccessOut]:
    rows = services.index.accesses(patient=patient, reader=reader, record_id=record_id)
    return [access_out(r) for r in rows]


@router.get("/consents", responses=PROBLEM_RESPONSES, summary="Every consent")
def consents(
    _: Regulator, services: FreshServices, patient: AddressQuery = None
) -> list[ConsentOut]:
    return [consent_out(r) for r in services.index.consents(patient=patient)]


@router.get("/referrals", responses=PROBLEM_RESPONSES, summary="Every referral")
def referrals(
    _: Regulator, services: FreshServices, patient: AddressQuery = None
) -> list[ReferralOut]:
    return [referral_out(r) for r in services.index.referrals(patient=patient)]


@router.get(
    "/break-glass",
    responses=PROBLEM_RESPONSES,
    summary="Break-glass accesses, unjustified by default (review queue)",
)
def break_glass(
    _: Regulator, services: FreshServices, include_justified: bool = False
) -> list[AccessOut]:
    rows = services.index.accesses(basis=int(Basis.BREAK_GLASS), unjustified=not include_justified)
    return [access_out(r) for r in rows]


@router.get("/summary", responses=PROBLEM_RESPONSES, summary="Counts for the audit console")
def summary(_: Regulator, services: FreshServices) -> SummaryOut:
    idx = services.index
    all_consents = idx.consents(limit=1_000_000)
    bg = idx.accesses(basis=int(Basis.BREAK_GLASS), limit=1_000_000)
    return SummaryOut(
        records=len(idx.records(limit=1_000_000)),
        consents=len(all_consents),
        revoked_consents=sum(1 for c in all_consents if c["revoked"]),
        referrals=len(idx.referrals(limit=1_000_000)),
        accesses=len(idx.accesses(limit=1_000_000)),
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
    access_id: int, body: JustifyIn, principal: CareProvider, services: FreshServices
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

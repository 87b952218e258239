"""Audit (regulator): accesses, consents, referrals, the break-glass queue, and a FHIR
AuditEvent bundle. Everything comes from the index; nothing scans the chain. Break-glass
review: a reviewing person of the reader's member justifies, the regulator reads the sealed
reason and justification (api/break_glass.py) and closes the case, accepted or flagged."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sharing_api.api.break_glass import check_reviewer, review_texts, seal_justification
from sharing_api.api.deps import FreshServices, Regulator, StaffOnly
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, not_found
from sharing_api.api.lookups import names
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.referral_texts import verified_reasons
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
from sharing_api.chain.scopes import Review
from sharing_api.fhir_export.audit_log import audit_bundle
from sharing_api.index.audit_queries import custodians

_JUSTIFYING = threading.Lock()
router = APIRouter(prefix="/audit", tags=["audit"])
LISTED = {**PROBLEM_RESPONSES, **PAGED}


class JustifyIn(BaseModel):
    justification: str = Field(min_length=1, max_length=4096)


class CloseIn(BaseModel):
    accepted: bool  # False: flagged


class SealedTextOut(BaseModel):
    kind: str  # reason | justification
    envelope: str  # 0x-hex, crypto.audit_seal format, sealed to the regulator's audit key
    commitment: str  # what the chain holds


class OpenedTextOut(BaseModel):
    text: str
    commitment: str  # recomputed from the opened text and its salt
    matches_chain: bool


class BreakGlassReviewOut(BaseModel):
    access: AccessOut
    reason: OpenedTextOut | None
    justification: OpenedTextOut | None


class SummaryOut(BaseModel):
    records: int
    consents: int
    revoked_consents: int
    referrals: int
    accesses: int
    break_glass: int
    break_glass_unjustified: int
    erased_records: int = 0  # erased at the patient's request (RecordErased)
    shared_addresses: int = Field(
        default=0, description="patient addresses with records at two or more custodians"
    )
    records_under_shared_addresses: int = Field(
        default=0, description="records the pseudonym migration still has to move"
    )


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
    rows = page.take(
        services.index.referrals(patient=patient, after=page.cursor, limit=page.fetch),
        "referral_id",
    )
    reasons = verified_reasons(services, rows)  # those this gateway holds (GET .../texts)
    return [referral_out(r, reasons.get(int(r["referral_id"]))) for r in rows]


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
    taken = page.take(rows, "access_id")  # the cursor follows every row, shown or not
    if not include_justified:  # waiting for a justification: flagged ones are closed
        taken = [r for r in taken if int(r["review"] or 0) == Review.OPEN]
    return [access_out(r) for r in taken]


@router.get("/summary", responses=PROBLEM_RESPONSES, summary="Counts for the audit console")
def summary(_: Regulator, services: FreshServices) -> SummaryOut:
    idx = services.index
    shared, under_shared = idx.shared_addresses()
    return SummaryOut(
        **idx.counts(int(Basis.BREAK_GLASS)),
        shared_addresses=shared,
        records_under_shared_addresses=under_shared,
    )


@router.get(
    "/fhir",
    responses=PROBLEM_RESPONSES,
    summary="Accesses as a FHIR R4 Bundle of AuditEvent resources",
)
def fhir(_: Regulator, services: FreshServices, patient: AddressQuery = None) -> dict[str, Any]:
    rows = services.index.accesses(patient=patient)
    held_by = custodians(services.index, [int(r["record_id"]) for r in rows])
    return audit_bundle(rows, int(time.time()), held_by, names(services))


def _break_glass_row(services: FreshServices, access_id: int) -> dict[str, Any]:
    row = services.index.access(access_id)
    if row is None or int(row["basis"]) != Basis.BREAK_GLASS:
        raise not_found(f"no break-glass access {access_id}")
    return row


@router.post(
    "/break-glass/{access_id}/justify",
    responses=PROBLEM_RESPONSES,
    summary="A reviewing person of the reader's member (not the reader) justifies it",
)
def justify(
    access_id: IdPath,
    body: JustifyIn,
    principal: StaffOnly,
    services: FreshServices,
) -> AccessOut:
    row = _break_glass_row(services, access_id)
    check_reviewer(services, principal, access_id, str(row["reader"]))
    # One justification at a time in this gateway: the open-review check, the kept text and
    # the chain transaction go together, so a text kept here is the one the chain commits to.
    with _JUSTIFYING:
        row = _break_glass_row(services, access_id)  # as it is now, inside the lock
        if int(row["review"] or 0) != Review.OPEN:
            raise ApiError(
                409, f"break-glass access {access_id} is already justified or closed", "Conflict"
            )
        commitment, reviewer = seal_justification(
            services, principal, access_id, body.justification
        )
        try:
            services.signer(principal.member).access.justify(access_id, commitment, reviewer)
        except Exception:
            # Not on chain: drop the text, so a retry seals afresh (it was a 500 for good).
            services.break_glass.forget(access_id, "justification", "0x" + commitment.hex())
            raise
        services.metrics.chain_writes.labels("justify").inc()
    services.indexer.sync()
    return access_out(_break_glass_row(services, access_id))


@router.post(
    "/break-glass/{access_id}/close",
    responses=PROBLEM_RESPONSES,
    summary="The regulator closes a break-glass review: accepted or flagged",
)
def close(
    access_id: IdPath,
    body: CloseIn,
    principal: Regulator,
    services: FreshServices,
) -> AccessOut:
    _break_glass_row(services, access_id)
    # Signed as the regulator: the gateway it signs in at must hold its ledger key.
    services.signer(principal.member).access.close_break_glass(access_id, body.accepted)
    services.metrics.chain_writes.labels("close-break-glass").inc()
    services.indexer.sync()
    return access_out(_break_glass_row(services, access_id))


@router.get(
    "/break-glass/{access_id}/sealed",
    responses=PROBLEM_RESPONSES,
    summary="The reason and justification as sealed to the regulator (the reader's gateway)",
)
def sealed(access_id: IdPath, _: Regulator, services: FreshServices) -> list[SealedTextOut]:
    _break_glass_row(services, access_id)
    texts = services.break_glass.texts(access_id)
    return [
        SealedTextOut(kind=k, envelope="0x" + t.envelope.hex(), commitment=t.commitment)
        for k, t in sorted(texts.items())
    ]


@router.get(
    "/break-glass/{access_id}/review",
    responses=PROBLEM_RESPONSES,
    summary="The reason and justification opened with the regulator's audit key (held by "
    "this gateway), fetched from the reader's gateway if kept there, checked against the chain",
)
def review(
    access_id: IdPath,
    principal: Regulator,
    services: FreshServices,
) -> BreakGlassReviewOut:
    row = _break_glass_row(services, access_id)
    opened = review_texts(services, principal, row)

    def out(kind: str) -> OpenedTextOut | None:
        found = opened.get(kind)
        if found is None:
            return None
        return OpenedTextOut(
            text=found.text, commitment=found.commitment, matches_chain=found.matches_chain
        )

    return BreakGlassReviewOut(
        access=access_out(row), reason=out("reason"), justification=out("justification")
    )

"""Who may fetch a record, and the on-chain log of the access (before any byte is served).

Consent gates who MAY fetch: a live consent of the patient covering (reader member,
category, purpose), an accepted, unexpired referral handing the record to the reader (on a
consent still live, if it rests on one), an open consultation naming the record to its
consultant (or its report to the requester), or break-glass by a role the member allows,
with a reason sealed to the regulator (api/break_glass.py). The
record's custodian reads its own record on the custodian basis. The AccessLog transaction
must be mined before the ciphertext flows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sharing_api.api.break_glass import SealedReason, keep_reason, seal_reason
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.errors import ApiError, forbidden
from sharing_api.api.services import Services
from sharing_api.chain import Basis, Category, Purpose, Role
from sharing_api.chain.access_batch import AccessNotLogged
from sharing_api.chain.coverage import (
    ConsentTerms,
    ReferralTerms,
    consent_problem,
    referral_problem,
)
from sharing_api.chain.scopes import ConsultationStatus, ReferralStatus


@dataclass(frozen=True)
class Grant:
    basis: Basis
    basis_id: int
    purpose: Purpose
    reason_hash: bytes = b"\x00" * 32
    sealed_reason: SealedReason | None = None  # break-glass: kept off chain once logged


def decide(
    services: Services,
    principal: Principal,
    record: dict[str, Any],
    purpose: Purpose,
    referral_id: int | None,
    break_glass: bool,
    reason: str | None,
    consultation_id: int | None = None,
) -> Grant:
    """Check on chain (eth_call) that the access is covered; 403 otherwise."""
    reader = principal.member
    patient = record["patient"]
    if break_glass:
        if not services.reader.registry.has_role(reader, Role.HOSPITAL | Role.CLINIC):
            raise forbidden("break-glass is for care providers")
        sealed = seal_reason(services, principal, reason)
        return Grant(Basis.BREAK_GLASS, 0, Purpose.EMERGENCY, sealed.commitment, sealed)
    if purpose is Purpose.EMERGENCY:
        raise ApiError(400, "purpose emergency is break-glass: set break_glass and a reason")
    if consultation_id is not None:
        return _consultation_grant(services, reader, record, purpose, consultation_id)
    if referral_id is not None:
        if purpose not in (Purpose.TREATMENT, Purpose.REFERRAL):
            raise ApiError(400, "a referral covers treatment or referral purposes only")
        covered = services.fast.covers_access(
            referral_id, patient, reader, int(record["record_id"])
        )
        if not covered:
            raise forbidden(
                f"referral {referral_id} does not hand record {record['record_id']} to {reader}"
            )
        return Grant(Basis.REFERRAL, referral_id, purpose)
    if str(record["custodian"]).lower() == reader.lower():
        # The member holds this record already: its own staff need no consent to read it.
        return Grant(Basis.CUSTODIAN, 0, purpose)
    consent_id = services.fast.is_permitted(patient, reader, int(record["category"]), int(purpose))
    if consent_id is None:
        raise forbidden(
            f"no live consent of the patient covers {reader} reading "
            f"{Category(int(record['category'])).label} records for {purpose.label}"
        )
    return Grant(Basis.CONSENT, consent_id, purpose)


def _consultation_grant(
    services: Services, reader: str, record: dict[str, Any], purpose: Purpose, cid: int
) -> Grant:
    """The consultant reading a named record, or the requester the report (on chain)."""
    if purpose not in (Purpose.CONSULTATION, Purpose.TREATMENT):
        raise ApiError(400, "a consultation covers consultation or treatment purposes only")
    record_id = int(record["record_id"])
    row = services.consultations.get(cid)
    # The chain judges by its latest block's time, which lags the clock between blocks: a
    # consultant's read past the expiry is refused here, not as a reverted AccessLog
    # transaction (the requester's report outlives the expiry, bounded by the consent).
    expired = row is not None and int(row["expires_at"]) <= time.time()
    if expired and row is not None and row["consultant"] == reader.lower():
        raise forbidden(f"consultation {cid} expired at {row['expires_at']}")
    if not services.fast.consultation_covers(cid, record["patient"], reader, record_id):
        raise forbidden(
            f"consultation {cid} does not (or no longer) open record {record_id} to {reader}"
        )
    return Grant(Basis.CONSULTATION, cid, purpose)


async def log_access(services: Services, principal: Principal, record_id: int, grant: Grant) -> int:
    """Log the access on chain as the reader member and wait until it is mined (batched with
    other readers' accesses); 409 if the transaction reverted (nothing is served then).
    Waiting holds no thread: a block interval is long, and readers wait for it together.
    A staff member's read carries their pseudonym, never their name (zero: the member's)."""
    staff = b"\x00" * 32
    if principal.kind is Kind.STAFF:
        staff = services.staff_pseudonym(principal.member, principal.staff_id)
        # Kept before the access is logged, so every pseudonym on chain can be revealed.
        services.staff.remember(staff, principal.member, principal.staff_id, principal.staff_role)
    pending = services.batcher(principal.member).submit(
        record_id,
        principal.member,
        grant.purpose,
        grant.basis,
        grant.basis_id,
        grant.reason_hash,
        staff,
    )
    try:
        access_id = await asyncio.wrap_future(pending)
    except AccessNotLogged as exc:
        raise ApiError(409, str(exc), "Conflict") from None
    services.metrics.chain_writes.labels("access").inc()
    if grant.sealed_reason is not None:
        keep_reason(services, principal, access_id, grant.sealed_reason)
    return access_id


def readable_by(services: Services, member: str, rows: list[dict[str, Any]]) -> list[Any]:
    """Records a member may fetch now (its own, a live consent, an accepted, unexpired
    referral on a live consent, or an open consultation), judged from the index (no chain
    scan) by the same rules as the contracts (sharing_api.chain.coverage)."""
    me = member.lower()
    roles = int(services.roles_of(member))
    now = int(time.time())
    patients = {r["patient"] for r in rows}
    consents = [
        ConsentTerms.from_row(c) for p in patients for c in services.index.consents(patient=p)
    ]
    referrals: list[tuple[ReferralTerms, ConsentTerms | None]] = []
    for ref in services.index.referrals(party=me):
        if ref["receiver"] != me or ref["status"] != int(ReferralStatus.ACCEPTED):
            continue  # the rule refuses these anyway: spare the consent lookup
        backing = services.index.consent(int(ref["consent_id"])) if ref["consent_id"] else None
        referrals.append(
            (ReferralTerms.from_row(ref), ConsentTerms.from_row(backing) if backing else None)
        )

    def covered(r: dict[str, Any]) -> bool:
        patient, record_id, category = r["patient"], int(r["record_id"]), int(r["category"])
        return any(
            referral_problem(
                t,
                patient=patient,
                reader=me,
                record_id=record_id,
                now=now,
                consent=c,
                reader_roles=roles,
            )
            is None
            for t, c in referrals
        ) or any(
            consent_problem(
                c,
                patient=patient,
                reader=me,
                reader_roles=roles,
                category=category,
                purpose=None,  # any: the reader names the purpose when it fetches
                now=now,
            )
            is None
            for c in consents
        )

    consulted = _consulted(services, me, now)
    return [
        r for r in rows if r["custodian"] == me or int(r["record_id"]) in consulted or covered(r)
    ]


def _consulted(services: Services, me: str, now: int) -> set[int]:
    """Record ids open to ``me`` through consultations, as indexed: the named records of one
    it consults (accepted or reported, unexpired), the report of one it requested. The
    consent behind each is the contract's to check when the record is fetched."""
    found: set[int] = set()
    for c in services.consultations.listing(party=me):
        status = ConsultationStatus(int(c["status"]))
        if c["consultant"] == me and status in (
            ConsultationStatus.ACCEPTED,
            ConsultationStatus.REPORTED,
        ):
            if now < int(c["expires_at"]):
                found.update(int(i) for i in c["record_ids"])
        elif c["requester"] == me and c["report_record_id"]:
            found.add(int(c["report_record_id"]))
    return found

"""Remote consultations (远程会诊): a requesting member asks a consulting member about named
records of a patient, on the patient's consent for purpose consultation; the consultant
accepts or declines, reads the named records (``GET /records/{id}/content?consultation_id=``)
while the consultation is open and unexpired, and reports (naming the record of its sealed
report, uploaded first); the requester closes it, or cancels it before. Each step is one
transaction of ConsultationRegistry; the question and notes stay off chain (committed)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crypto import text_commitment
from sharing_api.api import consultation_texts
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import Anyone, CareProvider, FreshServices, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.lookups import find_record, patient_scope
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import AddressField, IdPath
from sharing_api.api.services import Services
from sharing_api.chain import ConsultationStatus, Purpose
from sharing_api.chain.consultations import MAX_CONSULTATION_DURATION_S

router = APIRouter(prefix="/consultations", tags=["consultations"])
# Without an expiry, a consultation lasts a week (or until the consent ends, if sooner).
DEFAULT_CONSULTATION_DURATION_S = 7 * 24 * 3600
_OPEN = (ConsultationStatus.REQUESTED, ConsultationStatus.ACCEPTED)


class ConsultationIn(BaseModel):
    patient: AddressField = Field(description="The patient's pseudonym at the records' keeper")
    consultant: AddressField
    record_ids: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=64)
    question: str = Field(min_length=1, max_length=2048)
    consent_id: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="The patient's consent for purpose consultation granted to the "
        "consultant; found on chain if not given.",
    )
    expires_at: Annotated[int, Field(ge=1, lt=2**40)] | None = Field(
        default=None,
        description=f"Unix time the consultation ends: at most "
        f"{MAX_CONSULTATION_DURATION_S // 86_400} days away, not after the consent; default "
        f"{DEFAULT_CONSULTATION_DURATION_S // 86_400} days or the consent's end if sooner.",
    )


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=2048)


class ReportIn(BaseModel):
    record_id: Annotated[int, Field(ge=1)] = Field(
        description="The consultant's record holding the sealed report (uploaded first)"
    )
    note: str = Field(default="", max_length=2048)


class StepOut(BaseModel):
    step: str  # requested, accepted, declined, reported, closed, cancelled
    by: str
    note_hash: str
    block_number: int
    timestamp: int


class ConsultationOut(BaseModel):
    consultation_id: int
    patient: str
    requester: str
    consultant: str
    record_ids: list[int]
    consent_id: int
    status: str
    expires_at: int
    expired: bool  # past expires_at: the consultant reads nothing more, whatever the status
    question_hash: str  # the chain's salted commitment; the text is off chain
    question: str | None = None  # where this gateway holds it and it matches the chain
    report_record_id: int | None = None
    steps: list[StepOut]
    block_number: int
    tx_hash: str


class TextOut(BaseModel):
    kind: str  # question | decline | report | close | cancel
    text: str
    salt: str
    commitment: str
    matches_chain: bool
    held_by: str


class TextsOut(BaseModel):
    consultation_id: int
    texts: list[TextOut]
    notes: list[str]


def find(services: Services, consultation_id: int, principal: Principal) -> dict[str, Any]:
    row = services.consultations.get(consultation_id)
    if row is None:
        services.indexer.sync()
        row = services.consultations.get(consultation_id)
    if row is None:
        raise not_found(f"no consultation {consultation_id}")
    consultation_texts.check_reader(principal, row)
    return row


def _out(services: Services, row: dict[str, Any]) -> ConsultationOut:
    cid = int(row["consultation_id"])
    return ConsultationOut(
        **{k: row[k] for k in ("consultation_id", "patient", "requester", "consultant")},
        record_ids=row["record_ids"],
        consent_id=row["consent_id"],
        status=ConsultationStatus(int(row["status"])).label,
        expires_at=row["expires_at"],
        expired=int(row["expires_at"]) <= time.time(),
        question_hash=row["question_hash"],
        question=consultation_texts.verified_question(services, row),
        report_record_id=int(row["report_record_id"]) or None,
        steps=[
            StepOut(**{k: s[k] for k in StepOut.model_fields})
            for s in services.consultations.steps(cid)
        ],
        block_number=row["block_number"],
        tx_hash=row["tx_hash"],
    )


@router.post("", status_code=201, responses=PROBLEM_RESPONSES, summary="Ask for a consultation")
def request(
    body: ConsultationIn, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    signer = services.signer(principal.member)
    now = int(time.time())
    if body.expires_at is not None and body.expires_at <= now:
        raise ApiError(400, "expires_at has passed")
    consent_id = body.consent_id
    if consent_id is None:
        first = find_record(services, body.record_ids[0])
        consent_id = services.fast.is_permitted(
            body.patient, body.consultant, int(first["category"]), int(Purpose.CONSULTATION)
        )
        if consent_id is None:
            raise forbidden(
                f"no live consent of the patient lets {body.consultant} read these records "
                "for consultation: the patient grants one in the wallet first"
            )
    expires_at = body.expires_at
    if expires_at is None:
        until = services.reader.consents.get(consent_id).valid_until
        expires_at = min(now + DEFAULT_CONSULTATION_DURATION_S, until)
    question = text_commitment.commit_new("question", body.question)
    asked = signer.consultations.request(
        body.patient, body.consultant, body.record_ids, consent_id, question.commitment, expires_at
    )
    services.metrics.chain_writes.labels("consultation").inc()
    cid = asked.consultation_id
    consultation_texts.keep(services, principal.member, principal.subject, cid, question)
    services.indexer.sync()
    return _out(services, find(services, cid, principal))


def _step(
    consultation_id: int,
    action: str,
    principal: Principal,
    services: Services,
    note: str = "",
    record_id: int = 0,
) -> ConsultationOut:
    row = find(services, consultation_id, principal)
    party = "requester" if action in ("close", "cancel") else "consultant"
    if row[party] != principal.member.lower():
        raise forbidden(f"only the {party} may {action} consultation {consultation_id}")
    registry = services.signer(principal.member).consultations
    if action == "accept":
        registry.accept(consultation_id)
    else:
        committed = text_commitment.commit_new(action, note)
        if action == "report":
            registry.report(consultation_id, record_id, committed.commitment)
        else:
            getattr(registry, action)(consultation_id, committed.commitment)
        consultation_texts.keep(
            services, principal.member, principal.subject, consultation_id, committed
        )
    services.metrics.chain_writes.labels("consultation").inc()
    services.indexer.sync()
    return _out(services, find(services, consultation_id, principal))


@router.post("/{consultation_id}/accept", responses=PROBLEM_RESPONSES, summary="Consultant accepts")
def accept(
    consultation_id: IdPath, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    return _step(consultation_id, "accept", principal, services)


@router.post(
    "/{consultation_id}/decline", responses=PROBLEM_RESPONSES, summary="Consultant declines"
)
def decline(
    consultation_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    return _step(consultation_id, "decline", principal, services, body.note)


@router.post(
    "/{consultation_id}/report",
    responses=PROBLEM_RESPONSES,
    summary="Consultant reports: names its record holding the sealed report",
)
def report(
    consultation_id: IdPath, body: ReportIn, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    return _step(consultation_id, "report", principal, services, body.note, body.record_id)


@router.post("/{consultation_id}/close", responses=PROBLEM_RESPONSES, summary="Requester closes")
def close(
    consultation_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    return _step(consultation_id, "close", principal, services, body.note)


@router.post("/{consultation_id}/cancel", responses=PROBLEM_RESPONSES, summary="Requester cancels")
def cancel(
    consultation_id: IdPath, body: NoteIn, principal: CareProvider, services: ServicesDep
) -> ConsultationOut:
    return _step(consultation_id, "cancel", principal, services, body.note)


@router.get(
    "", responses={**PROBLEM_RESPONSES, **PAGED}, summary="List consultations (from the index)"
)
def list_consultations(
    principal: Anyone,
    services: ServicesDep,
    page: PageDep,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[ConsultationOut]:
    party = None
    patients: str | tuple[str, ...] | None = patient
    if principal.kind is Kind.PATIENT:  # about any of the patient's pseudonyms
        patients = patient_scope(principal, patient, "consultations")
    elif principal.kind is not Kind.REGULATOR:  # a member sees those it is a party to
        party = principal.member
    rows = services.consultations.listing(
        patient=patients, party=party, after=page.cursor, limit=page.fetch
    )
    return [_out(services, r) for r in page.take(rows, "consultation_id")]


@router.get("/{consultation_id}", responses=PROBLEM_RESPONSES, summary="One consultation")
def get(consultation_id: IdPath, principal: Anyone, services: ServicesDep) -> ConsultationOut:
    return _out(services, find(services, consultation_id, principal))


@router.get(
    "/{consultation_id}/texts",
    responses=PROBLEM_RESPONSES,
    summary="The question and notes with their salts, each checked against the chain; "
    "held_here: only what this gateway keeps",
)
def texts(
    consultation_id: IdPath, principal: Anyone, services: FreshServices, held_here: bool = False
) -> TextsOut:
    row = find(services, consultation_id, principal)
    notes: list[str] = []
    if held_here:
        found = consultation_texts.held_here(services, row)
    else:
        found, notes = consultation_texts.gather(services, principal, row)
    return TextsOut(
        consultation_id=consultation_id,
        texts=[TextOut(**vars(t)) for t in found],
        notes=notes,
    )

"""The regulator console's read-only views: chain status and the last verification, the
access timeline with filters (and as CSV), chart counts per day, the anomaly list and the
HTML report. All from the index plus the audit toolkit (``sharing_api.audit``); regulator
only, GET only."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from sharing_api.api.console_state import ConsoleState, console_state
from sharing_api.api.deps import FreshServices, Regulator
from sharing_api.api.errors import PROBLEM_RESPONSES
from sharing_api.api.lookups import member_infos, names
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import MAX_ID, MAX_UNIX_TIME, AccessOut, AddressQuery, access_out
from sharing_api.api.services import Services
from sharing_api.audit import charts
from sharing_api.audit.report import anomalies_about, csv_text, render_html, summary_of
from sharing_api.audit.rules import Thresholds, day_of, find_anomalies
from sharing_api.audit.sources import read_chain, read_index_db
from sharing_api.chain import Basis, Category, Purpose
from sharing_api.fhir_export.audit_log import audit_bundle
from sharing_api.index.audit_queries import AccessFilter, access_rows, categories, custodians

router = APIRouter(prefix="/audit", tags=["console"])
State = Annotated[ConsoleState, Depends(console_state)]


def _labels(enum: Any) -> str:
    return "^(" + "|".join(m.name.lower().replace("_", "-") for m in enum) + ")$"


class MemberOut(BaseModel):
    address: str
    name: str
    roles: list[str]
    tier: int | None
    active: bool


class HeadOut(BaseModel):
    number: int
    hash: str
    timestamp: int


class VerificationOut(BaseModel):
    ran_at: int
    seconds: float
    ok: bool
    chain: dict[str, Any]
    blobs: dict[str, Any]
    errors: list[str]


class StatusOut(BaseModel):
    chain_id: int
    head: HeadOut
    indexed_block: int
    members: list[MemberOut]
    verification: VerificationOut | None
    shared_addresses: int  # patients whose one address links care at several members
    records_under_shared_addresses: int  # what the pseudonym migration has left to move


class TimelineOut(AccessOut):
    category: str | None


class MemberDayOut(BaseModel):
    member: str
    day: str
    count: int


class ConsentDayOut(BaseModel):
    day: str
    granted: int
    revoked: int


class ReferralDayOut(BaseModel):
    day: str
    up: int
    down: int


class BreakGlassDayOut(BaseModel):
    day: str
    count: int
    unjustified: int


class ChartsOut(BaseModel):
    accesses_per_member: list[MemberDayOut]
    consents: list[ConsentDayOut]
    referrals: list[ReferralDayOut]
    break_glass: list[BreakGlassDayOut]
    direction_mismatches: list[int]  # referral ids whose declared direction contradicts tiers


class AnomalyOut(BaseModel):
    rule: str
    access_id: int | None
    reader: str
    detail: str


def members_of(services: Services) -> list[MemberOut]:
    return [
        MemberOut(
            address=a,
            name=i.name,
            roles=i.roles.labels(),
            tier=charts.tier(i.roles),
            active=i.active,
        )
        for a, i, _ in member_infos(services, gateways=False)
    ]


def _verification(state: ConsoleState) -> VerificationOut | None:
    last = state.latest()
    return None if last is None else VerificationOut(**last.__dict__)


@router.get("/status", responses=PROBLEM_RESPONSES, summary="Chain head, members, verification")
def status(_: Regulator, services: FreshServices, state: State) -> StatusOut:
    head = services.reader.client.w3.eth.get_block("latest")
    shared, under_shared = services.index.shared_addresses()
    return StatusOut(
        chain_id=services.deployment.chain_id,
        head=HeadOut(
            number=int(head["number"]),
            hash="0x" + bytes(head["hash"]).hex(),
            timestamp=int(head["timestamp"]),
        ),
        indexed_block=(services.index.next_block() or 1) - 1,
        members=members_of(services),
        verification=_verification(state),
        shared_addresses=shared,
        records_under_shared_addresses=under_shared,
    )


@router.get(
    "/verification",
    responses=PROBLEM_RESPONSES,
    summary="The last verification; runs one first if none yet or run=true",
)
def verification(
    _: Regulator,
    services: FreshServices,
    state: State,
    run: bool = False,
    sample: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> VerificationOut:
    kept = None if run else _verification(state)
    if kept is not None:
        return kept
    done = state.verify(services, sample, {m.address for m in members_of(services)})
    return VerificationOut(**done.__dict__)


class Filters:
    """The timeline's filters (query parameters), shared by the JSON, CSV and report views."""

    def __init__(
        self,
        member: AddressQuery = None,
        patient: AddressQuery = None,
        purpose: Annotated[str | None, Query(pattern=_labels(Purpose))] = None,
        basis: Annotated[str | None, Query(pattern=_labels(Basis))] = None,
        since: Annotated[
            int | None, Query(ge=0, le=MAX_UNIX_TIME, description="Unix time, inclusive")
        ] = None,
        until: Annotated[
            int | None, Query(ge=0, le=MAX_UNIX_TIME, description="Unix time, exclusive")
        ] = None,
    ) -> None:
        self.member, self.patient = member, patient
        self.purpose = None if purpose is None else Purpose.parse(purpose)
        self.basis = None if basis is None else Basis[basis.upper().replace("-", "_")]
        self.since, self.until = since, until

    def query(self) -> AccessFilter:
        return AccessFilter(
            reader=self.member,
            patient=self.patient,
            purpose=None if self.purpose is None else int(self.purpose),
            basis=None if self.basis is None else int(self.basis),
            since=self.since,
            until=self.until,
        )

    def rows(
        self,
        services: Services,
        columns: Sequence[str] | None = None,
        latest: int | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        query = self.query()
        return access_rows(services.index, query, columns=columns, latest=latest, before=before)


FiltersDep = Annotated[Filters, Depends()]


@router.get(
    "/timeline",
    responses={**PROBLEM_RESPONSES, **PAGED},
    summary="Accesses, filtered: pages from the newest back, each page in chain order",
)
def timeline(
    _: Regulator, services: FreshServices, filters: FiltersDep, page: PageDep
) -> list[TimelineOut]:
    newest_first = filters.rows(services, latest=page.fetch, before=page.cursor)[::-1]
    rows = page.take(newest_first, "access_id")[::-1]
    category = categories(services.index, [int(r["record_id"]) for r in rows])

    def label(record_id: int) -> str | None:
        found = category.get(record_id)
        return None if found is None else Category(found).label

    return [
        TimelineOut(**access_out(r).model_dump(), category=label(int(r["record_id"]))) for r in rows
    ]


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/timeline.csv",
    responses={**PROBLEM_RESPONSES, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="The filtered timeline as CSV",
)
def timeline_csv(_: Regulator, services: FreshServices, filters: FiltersDep) -> Response:
    return _download(csv_text(filters.rows(services)), "text/csv", "alliance-accesses.csv")


@router.get(
    "/timeline.fhir",
    responses={**PROBLEM_RESPONSES, 200: {"content": {"application/fhir+json": {}}}},
    response_class=Response,
    summary="The filtered timeline as a FHIR R4 Bundle of AuditEvent resources",
)
def timeline_fhir(_: Regulator, services: FreshServices, filters: FiltersDep) -> Response:
    rows = filters.rows(services)
    held_by = custodians(services.index, [int(r["record_id"]) for r in rows])
    bundle = audit_bundle(rows, int(time.time()), held_by, names(services))
    body = json.dumps(bundle, indent=1)
    return _download(body, "application/fhir+json", "alliance-auditevents.json")


@router.get(
    "/charts",
    responses=PROBLEM_RESPONSES,
    summary="Counts per UTC day for the charts (accesses by the filters; consents by patient "
    "and time; referrals by patient, member as either party, and time)",
)
def chart_counts(
    _: Regulator, services: FreshServices, state: State, filters: FiltersDep
) -> ChartsOut:
    idx = services.index
    accesses = filters.rows(services, columns=("reader", "timestamp", "basis", "justified"))

    def in_range(ts: int) -> bool:
        return (filters.since is None or ts >= filters.since) and (
            filters.until is None or ts < filters.until
        )

    consents = [c for c in idx.consents(patient=filters.patient) if in_range(int(c["timestamp"]))]
    referrals = [
        r
        for r in idx.referrals(patient=filters.patient, party=filters.member)
        if in_range(int(r["timestamp"]))
    ]
    tiers = {m.address: m.tier for m in members_of(services)}
    per_member = charts.accesses_per_member_day(accesses)
    per_day = charts.consents_per_day(consents, lambda b: state.block_time(services, b))
    return ChartsOut(
        accesses_per_member=[MemberDayOut(member=m, day=d, count=n) for m, d, n in per_member],
        consents=[ConsentDayOut(day=d, granted=g, revoked=r) for d, g, r in per_day],
        referrals=[
            ReferralDayOut(day=d, up=u, down=dn) for d, u, dn in charts.referrals_per_day(referrals)
        ],
        break_glass=[
            BreakGlassDayOut(day=d, count=n, unjustified=u)
            for d, n, u in charts.break_glass_per_day(accesses)
        ],
        direction_mismatches=charts.direction_mismatches(referrals, tiers),
    )


Within = Annotated[
    int,
    Query(ge=0, le=MAX_UNIX_TIME, description="seconds a break-glass access may stay unjustified"),
]
PerDay = Annotated[int, Query(ge=1, le=MAX_ID, description="accesses per reader per UTC day")]
Now = Annotated[int | None, Query(ge=0, le=MAX_UNIX_TIME, description="judge as of this Unix time")]


Source = Annotated[
    Literal["index", "chain"],
    Query(
        description="index: fast, but it keeps no justification times (a justification "
        "counts as in time); chain: the audit trail read from the chain's logs (authoritative)"
    ),
]


def _anomalies(
    services: Services, within: int, per_day: int, now: int | None, source: str = "index"
) -> tuple[Any, list[Any]]:
    data = (
        read_chain(services.reader)
        if source == "chain"
        else read_index_db(services.index, roles_of=services.roles_of)
    )
    at = int(time.time()) if now is None else now
    return data, find_anomalies(data.history, Thresholds(within, per_day), at)


@router.get("/anomalies", responses=PROBLEM_RESPONSES, summary="The anomaly rules over the index")
def anomalies(
    _: Regulator,
    services: FreshServices,
    justify_within: Within = Thresholds.justify_within_s,
    max_per_day: PerDay = Thresholds.max_accesses_per_day,
    now: Now = None,
    source: Source = "index",
) -> list[AnomalyOut]:
    _data, found = _anomalies(services, justify_within, max_per_day, now, source)
    return [
        AnomalyOut(rule=a.rule, access_id=a.access_id, reader=a.reader, detail=a.detail)
        for a in found
    ]


@router.get(
    "/report",
    responses={**PROBLEM_RESPONSES, 200: {"content": {"text/html": {}}}},
    response_class=HTMLResponse,
    summary="The HTML audit report (charts, anomalies, accesses) for a period",
)
def report(
    _: Regulator,
    services: FreshServices,
    filters: FiltersDep,
    justify_within: Within = Thresholds.justify_within_s,
    max_per_day: PerDay = Thresholds.max_accesses_per_day,
    now: Now = None,
    source: Source = "index",
) -> Response:
    data, found = _anomalies(services, justify_within, max_per_day, now, source)
    rows = filters.rows(services)
    in_range = anomalies_about(rows, found)
    first = "(start)" if filters.since is None else day_of(filters.since)
    last = day_of((int(time.time()) if filters.until is None else filters.until) - 1)
    html = render_html(rows, in_range, (first, last), summary_of(data, rows, in_range))
    return _download(html, "text/html", "alliance-audit-report.html")

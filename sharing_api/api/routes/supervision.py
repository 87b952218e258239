"""The health commission's supervision dashboard (regulator only): the figures per member and
per UTC month (``sharing_api.audit.supervision``, counted in the index database), as JSON and
as CSV, with the alerts raised by the thresholds the regulator keeps at its own gateway."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sharing_api.api.deps import FreshServices, Regulator
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError
from sharing_api.api.routes.console import State, members_of
from sharing_api.api.services import Services
from sharing_api.audit import supervision
from sharing_api.audit.supervision_alerts import Thresholds, alerts, csv_lines

router = APIRouter(prefix="/audit", tags=["console"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
First = Annotated[
    str | None,
    Query(alias="from", pattern=MONTH, description="first month (YYYY-MM, UTC); default: "
          "eleven months before the last"),
]  # fmt: skip
Last = Annotated[
    str | None,
    Query(alias="to", pattern=MONTH, description="last month (YYYY-MM, UTC); default: this one"),
]


class MemberRefOut(BaseModel):
    address: str
    name: str
    tier: str | None  # tertiary | county | township (township or community); None: regulator


class ReferralMemberOut(BaseModel):
    month: str
    member: str
    sent_up: int
    sent_down: int
    received_up: int
    received_down: int


class TierFlowOut(BaseModel):
    month: str
    from_tier: str | None
    to_tier: str | None
    up: int  # declared up on chain
    down: int


class ReferralTotalOut(BaseModel):
    month: str
    up: int
    down: int
    down_share_pct: float


class AcceptanceOut(BaseModel):
    month: str  # the month the referrals were created
    member: str  # the receiving (accepting) member
    accepted: int
    median_hours: float
    p90_hours: float


class AcceptanceDirectionOut(BaseModel):
    month: str
    direction: str
    accepted: int
    median_hours: float
    p90_hours: float


class ReadsOut(BaseModel):
    month: str
    member: str  # the reading member
    by_basis: dict[str, int]  # every basis of the AccessLog, zero included
    total: int
    break_glass_unjustified: int


class PublishedOut(BaseModel):
    month: str
    member: str  # the custodian
    records: int


class ConsultationRowOut(BaseModel):
    month: str  # of the request
    member: str
    requested: int  # as the requesting member
    received: int  # as the consulting member
    answered: int  # reported, of those received
    median_hours_to_report: float | None  # None: none answered
    p90_hours_to_report: float | None


class ConsultationsOut(BaseModel):
    available: bool = Field(description="whether this index holds consultations")
    rows: list[ConsultationRowOut]


class AlertOut(BaseModel):
    rule: str  # break-glass-unjustified | acceptance-median | referral-down-share
    month: str
    member: str | None  # None: the alliance as a whole
    value: float
    threshold: float


class SupervisionOut(BaseModel):
    from_month: str = Field(serialization_alias="from")
    to_month: str = Field(serialization_alias="to")
    months: list[str]
    members: list[MemberRefOut]
    referrals: list[ReferralMemberOut]
    tier_flows: list[TierFlowOut]
    referral_totals: list[ReferralTotalOut]
    acceptance: list[AcceptanceOut]
    acceptance_by_direction: list[AcceptanceDirectionOut]
    reads: list[ReadsOut]
    records: list[PublishedOut]
    consultations: ConsultationsOut
    thresholds: Thresholds
    alerts: list[AlertOut]


def _months(first: str | None, last: str | None) -> supervision.Months:
    if last is None:
        last = time.strftime("%Y-%m", time.gmtime())
    if first is None:
        y, m = int(last[:4]), int(last[5:])
        k = y * 12 + m - 1 - 11
        first = f"{k // 12:04d}-{k % 12 + 1:02d}"
    try:
        return supervision.Months.between(first, last)
    except ValueError as exc:
        raise ApiError(400, str(exc), "Bad Request") from exc


def _figures(
    services: Services, state: Any, first: str | None, last: str | None
) -> tuple[dict[str, Any], list[MemberRefOut]]:
    months = _months(first, last)
    members = members_of(services)
    figs = supervision.figures(services.index, months, {m.address: m.tier for m in members})
    thresholds = Thresholds.stored(state.thresholds.load())
    figs["thresholds"] = thresholds
    figs["alerts"] = alerts(figs, thresholds)
    refs = [
        MemberRefOut(address=m.address, name=m.name, tier=supervision.tier_label(m.tier))
        for m in members
    ]
    return figs, refs


@router.get(
    "/supervision",
    responses=PROBLEM_RESPONSES,
    response_model_by_alias=True,
    summary="Supervision figures per member and month: referrals by tier and time to "
    "acceptance, reads by basis, records published, consultations; and the alerts",
)
def figures(
    _: Regulator, services: FreshServices, state: State, first: First = None, last: Last = None
) -> SupervisionOut:
    figs, refs = _figures(services, state, first, last)
    return SupervisionOut(
        from_month=figs.pop("from"), to_month=figs.pop("to"), members=refs, **figs
    )


@router.get(
    "/supervision.csv",
    responses={**PROBLEM_RESPONSES, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="The supervision figures as CSV: month, member, member_name, tier, figure, value",
)
def figures_csv(
    _: Regulator, services: FreshServices, state: State, first: First = None, last: Last = None
) -> Response:
    figs, refs = _figures(services, state, first, last)
    body = csv_lines(figs, {m.address: m.name for m in refs}, {m.address: m.tier for m in refs})
    name = f"alliance-supervision-{figs['from']}-{figs['to']}.csv"
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/supervision/thresholds",
    responses=PROBLEM_RESPONSES,
    summary="The supervision thresholds set at this gateway",
)
def get_thresholds(_: Regulator, state: State) -> Thresholds:
    return Thresholds.stored(state.thresholds.load())


@router.put(
    "/supervision/thresholds",
    responses=PROBLEM_RESPONSES,
    summary="Set the supervision thresholds (the whole set: one left out or null is cleared); "
    "kept at this gateway, not on chain",
)
def put_thresholds(body: Thresholds, _: Regulator, state: State) -> Thresholds:
    state.thresholds.replace(body.model_dump())
    return Thresholds.stored(state.thresholds.load())

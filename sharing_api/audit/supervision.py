"""The health commission's supervision figures, per member and per UTC month, counted in the
index database (GROUP BY member and month; no query returns one row per access or referral):

- referrals created, up and down (as declared on chain), sent and received per member, and
  the flows between tiers (tertiary, county, township/community);
- time to acceptance (creation to the first change to ACCEPTED in ``referral_changes``),
  median and p90 in hours, per receiving member and per direction;
- reads by basis (every ``Basis``), and break-glass reads not yet justified;
- records published per custodian;
- consultations requested, received and answered per member, and the time from request to
  report (median and p90 hours), by the month of the request.

Months are bucketed by a CASE over the month starts (UTC), the same SQL on SQLite and
PostgreSQL. Percentiles are nearest-rank: the value at rank ceil(p * n) of the sorted
durations (so the median of an even count is the lower middle value)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql import ColumnElement

from sharing_api.chain import Basis, Direction, ReferralStatus
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import (
    accesses,
    consultation_steps,
    records,
    referral_changes,
    referrals,
)
from sharing_api.index.schema import consultations as consultations_table

MAX_MONTHS = 60
TIER_LABELS = {3: "tertiary", 2: "county", 1: "township"}  # township: township/community
BASES = [b.label for b in Basis]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Months:
    """A range of UTC months, first and last included."""

    labels: list[str]  # "YYYY-MM"
    starts: list[int]  # Unix time each month starts, and one more: the end of the last

    @classmethod
    def between(cls, first: str, last: str) -> Months:
        a, b = _parse(first), _parse(last)
        if b < a:
            raise ValueError(f"the range ends ({last}) before it starts ({first})")
        if b - a + 1 > MAX_MONTHS:
            raise ValueError(f"at most {MAX_MONTHS} months at a time")
        labels = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(a, b + 2)]
        starts = [calendar.timegm((int(x[:4]), int(x[5:]), 1, 0, 0, 0)) for x in labels]
        return cls(labels[:-1], starts)

    def bucket(self, column: Any) -> Any:
        """The month index (0-based) of a Unix-time column, NULL outside the range."""
        return case(*[(column < s, i) for i, s in enumerate(self.starts[1:])], else_=None)

    def within(self, column: Any) -> list[ColumnElement[bool]]:
        return [column >= self.starts[0], column < self.starts[-1]]


def _parse(text: str) -> int:
    found = _MONTH.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a month (YYYY-MM)")
    return int(found[1]) * 12 + int(found[2]) - 1


def tier_label(tier: int | None) -> str | None:
    return None if tier is None else TIER_LABELS.get(tier)


def _direction(value: int) -> str:
    return "up" if value == Direction.UP else "down"


def _run(db: IndexDB, query: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(query))


# ---- referrals ---------------------------------------------------------------------------


def referral_counts(db: IndexDB, months: Months) -> list[tuple[str, str, str, str, int]]:
    """(month, referrer, receiver, direction, referrals created)."""
    r = referrals.c
    m = months.bucket(r.timestamp).label("m")
    query = (
        select(m, r.referrer, r.receiver, r.direction, func.count())
        .where(*months.within(r.timestamp))
        .group_by(m, r.referrer, r.receiver, r.direction)
    )
    return [
        (months.labels[int(i)], str(a), str(b), _direction(int(d)), int(n))
        for i, a, b, d, n in _run(db, query)
    ]


def acceptance(db: IndexDB, months: Months, by: str) -> list[dict[str, Any]]:
    """Time to acceptance of the referrals created in each month, grouped by ``by``:
    ``receiver`` (the accepting member) or ``direction``: accepted, median and p90 hours."""
    first = (
        select(
            referral_changes.c.referral_id,
            func.min(referral_changes.c.timestamp).label("at"),
        )
        .where(referral_changes.c.to_status == int(ReferralStatus.ACCEPTED))
        .group_by(referral_changes.c.referral_id)
        .subquery()
    )
    r = referrals.c
    durations = (
        select(
            months.bucket(r.timestamp).label("m"),
            r[by].label("k"),
            (first.c.at - r.timestamp).label("s"),
        )
        .join_from(referrals, first, first.c.referral_id == r.referral_id)
        .where(*months.within(r.timestamp))
        .subquery()
    )
    query = _median_p90(durations)
    out = []
    for i, key, n, median, p90 in _run(db, query):
        out.append(
            {
                "month": months.labels[int(i)],
                by if by != "receiver" else "member": (
                    _direction(int(key)) if by == "direction" else str(key)
                ),
                "accepted": int(n),
                "median_hours": hours(median),
                "p90_hours": hours(p90),
            }
        )
    return sorted(out, key=lambda x: (x["month"], str(x.get("member", x.get("direction")))))


def hours(seconds: Any) -> float:
    return round(int(seconds) / 3600, 2)


def _median_p90(durations: Any) -> Any:
    """(m, k, count, median, p90) per (m, k) of a subquery of durations ``s`` (seconds):
    nearest-rank percentiles by window functions, the same SQL on SQLite and PostgreSQL."""
    d = durations.c
    part = (d.m, d.k)
    ranked = select(
        d.m,
        d.k,
        d.s,
        func.row_number().over(partition_by=part, order_by=d.s).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    k = ranked.c
    return select(
        k.m,
        k.k,
        func.count(),
        func.min(case((k.rn * 2 >= k.n, k.s))),  # rank ceil(n/2)
        func.min(case((k.rn * 10 >= k.n * 9, k.s))),  # rank ceil(9n/10)
    ).group_by(k.m, k.k)


# ---- reads and records -------------------------------------------------------------------


def reads(db: IndexDB, months: Months) -> list[dict[str, Any]]:
    """Reads per reading member and month, by basis, and break-glass reads not justified."""
    a = accesses.c
    m = months.bucket(a.timestamp).label("m")
    unjustified = func.sum(
        case(((a.basis == int(Basis.BREAK_GLASS)) & a.justified.is_(False), 1), else_=0)
    )
    query = (
        select(m, a.reader, a.basis, func.count(), unjustified)
        .where(*months.within(a.timestamp))
        .group_by(m, a.reader, a.basis)
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for i, reader, basis, n, open_ in _run(db, query):
        key = (months.labels[int(i)], str(reader))
        row = rows.setdefault(
            key,
            {
                "month": key[0],
                "member": key[1],
                "by_basis": dict.fromkeys(BASES, 0),
                "total": 0,
                "break_glass_unjustified": 0,
            },
        )
        label = _basis_label(int(basis))
        row["by_basis"][label] = row["by_basis"].get(label, 0) + int(n)
        row["total"] += int(n)
        row["break_glass_unjustified"] += int(open_ or 0)
    return [rows[k] for k in sorted(rows)]


def _basis_label(value: int) -> str:
    try:
        return Basis(value).label
    except ValueError:  # a basis newer than this code: counted under its number
        return str(value)


def published(db: IndexDB, months: Months) -> list[dict[str, Any]]:
    """Records registered per custodian and month (by the registering block's time)."""
    r = records.c
    m = months.bucket(r.timestamp).label("m")
    query = (
        select(m, r.custodian, func.count())
        .where(*months.within(r.timestamp))
        .group_by(m, r.custodian)
    )
    found = [
        {"month": months.labels[int(i)], "member": str(c), "records": int(n)}
        for i, c, n in _run(db, query)
    ]
    return sorted(found, key=lambda x: (x["month"], x["member"]))


# ---- consultations -----------------------------------------------------------------------


def consultations(db: IndexDB, months: Months) -> dict[str, Any]:
    """Consultation figures per member and month of the request: requested (by the
    requesting member), received and answered (reported, by the consulting member), and the
    median and p90 hours from request to report of the answered ones."""
    c = consultations_table.c
    m = months.bucket(c.timestamp).label("m")
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(month: int, member: str) -> dict[str, Any]:
        key = (months.labels[int(month)], str(member))
        return rows.setdefault(
            key,
            {"month": key[0], "member": key[1], "requested": 0, "received": 0,
             "answered": 0, "median_hours_to_report": None, "p90_hours_to_report": None},
        )  # fmt: skip

    for side, field in ((c.requester, "requested"), (c.consultant, "received")):
        query = select(m, side, func.count()).where(*months.within(c.timestamp)).group_by(m, side)
        for i, member, n in _run(db, query):
            row(i, member)[field] = int(n)
    reported = (
        select(
            consultation_steps.c.consultation_id,
            func.min(consultation_steps.c.timestamp).label("at"),
        )
        .where(consultation_steps.c.step == "reported")
        .group_by(consultation_steps.c.consultation_id)
        .subquery()
    )
    durations = (
        select(m, c.consultant.label("k"), (reported.c.at - c.timestamp).label("s"))
        .join_from(consultations_table, reported, reported.c.consultation_id == c.consultation_id)
        .where(*months.within(c.timestamp))
        .subquery()
    )
    for i, member, n, median, p90 in _run(db, _median_p90(durations)):
        found = row(i, member)
        found["answered"] = int(n)
        found["median_hours_to_report"] = hours(median)
        found["p90_hours_to_report"] = hours(p90)
    return {"available": True, "rows": [rows[k] for k in sorted(rows)]}


# ---- the whole dashboard -----------------------------------------------------------------


def referral_figures(
    counts: Sequence[tuple[str, str, str, str, int]], tiers: Mapping[str, int | None]
) -> dict[str, Any]:
    """Per member (sent and received, up and down), per tier flow and per month (with the
    share going down), from the grouped counts (a few rows per member pair and month)."""
    per_member: dict[tuple[str, str], dict[str, Any]] = {}
    flows: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    totals: dict[str, dict[str, Any]] = {}

    def member_row(month: str, member: str) -> dict[str, Any]:
        return per_member.setdefault(
            (month, member),
            {"month": month, "member": member, "sent_up": 0, "sent_down": 0,
             "received_up": 0, "received_down": 0},
        )  # fmt: skip

    for month, referrer, receiver, direction, n in counts:
        member_row(month, referrer)[f"sent_{direction}"] += n
        member_row(month, receiver)[f"received_{direction}"] += n
        a, b = tier_label(tiers.get(referrer)), tier_label(tiers.get(receiver))
        flow = flows.setdefault(
            (month, a, b), {"month": month, "from_tier": a, "to_tier": b, "up": 0, "down": 0}
        )
        flow[direction] += n
        total = totals.setdefault(month, {"month": month, "up": 0, "down": 0})
        total[direction] += n
    for total in totals.values():
        total["down_share_pct"] = round(100 * total["down"] / (total["up"] + total["down"]), 1)
    return {
        "referrals": [per_member[k] for k in sorted(per_member)],
        "tier_flows": [flows[k] for k in sorted(flows, key=lambda k: tuple(map(str, k)))],
        "referral_totals": [totals[k] for k in sorted(totals)],
    }


def figures(db: IndexDB, months: Months, tiers: Mapping[str, int | None]) -> dict[str, Any]:
    """Every dashboard figure for these months; ``tiers``: member address -> tier (from
    the chain's registry: ``charts.tier``)."""
    return {
        "from": months.labels[0],
        "to": months.labels[-1],
        "months": months.labels,
        **referral_figures(referral_counts(db, months), tiers),
        "acceptance": acceptance(db, months, "receiver"),
        "acceptance_by_direction": acceptance(db, months, "direction"),
        "reads": reads(db, months),
        "records": published(db, months),
        "consultations": consultations(db, months),
    }

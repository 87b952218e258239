"""The supervision figures: counted in SQL (``sharing_api.audit.supervision``) equal to the same
figures computed in Python from every row, on SQLite and PostgreSQL; known figures from a few
known rows (percentiles, tier flows, the first acceptance only); the alerts the thresholds
raise; the CSV; and the month range's errors."""

from __future__ import annotations

import calendar
import csv
import io
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sharing_api.audit import supervision
from sharing_api.audit.supervision_alerts import Thresholds, alerts, csv_lines
from sharing_api.chain import Basis, Direction, ReferralStatus
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import (
    accesses,
    consultation_steps,
    consultations,
    records,
    referral_changes,
    referrals,
)
from sharing_api.index.supervision_thresholds import ThresholdStore
from tests.support.index_rows import (
    _change,
    _insert,
    consultation_step,
    member_addresses,
    plant,
)
from tests.support.postgres import running_postgres

T0 = calendar.timegm((2026, 1, 1, 0, 0, 0))
T_END = calendar.timegm((2026, 7, 1, 0, 0, 0))
MEMBERS = member_addresses(5)


def _all(db: IndexDB, table: Any) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def _month(ts: int, months: supervision.Months) -> str | None:
    for label, a, b in zip(months.labels, months.starts, months.starts[1:], strict=False):
        if a <= ts < b:
            return label
    return None


def _rank(sorted_values: list[int], p: float) -> int:
    return sorted_values[max(1, math.ceil(p * len(sorted_values))) - 1]


def reference(db: IndexDB, months: supervision.Months) -> dict[str, Any]:
    """The figures from every row, in Python."""
    refs = _all(db, referrals)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for r in refs:
        m = _month(r["timestamp"], months)
        if m:
            d = "up" if r["direction"] == Direction.UP else "down"
            counts[(m, r["referrer"], r["receiver"], d)] += 1
    first: dict[int, int] = {}
    for c in _all(db, referral_changes):
        if c["to_status"] == ReferralStatus.ACCEPTED:
            rid = c["referral_id"]
            first[rid] = min(first.get(rid, c["timestamp"]), c["timestamp"])
    groups: dict[str, dict[tuple[str, Any], list[int]]] = {
        "receiver": defaultdict(list),
        "direction": defaultdict(list),
    }
    for r in refs:
        m = _month(r["timestamp"], months)
        if m and r["referral_id"] in first:
            s = first[r["referral_id"]] - r["timestamp"]
            groups["receiver"][(m, r["receiver"])].append(s)
            d = "up" if r["direction"] == Direction.UP else "down"
            groups["direction"][(m, d)].append(s)
    acceptance = {}
    for by, found in groups.items():
        out = []
        for (m, k), values in sorted(found.items()):
            values.sort()
            out.append(
                {
                    "month": m,
                    ("member" if by == "receiver" else "direction"): k,
                    "accepted": len(values),
                    "median_hours": supervision.hours(_rank(values, 0.5)),
                    "p90_hours": supervision.hours(_rank(values, 0.9)),
                }
            )
        acceptance[by] = out
    reads: dict[tuple[str, str], dict[str, Any]] = {}
    for a in _all(db, accesses):
        m = _month(a["timestamp"], months)
        if not m:
            continue
        row = reads.setdefault(
            (m, a["reader"]),
            {"month": m, "member": a["reader"], "by_basis": dict.fromkeys(supervision.BASES, 0),
             "total": 0, "break_glass_unjustified": 0},
        )  # fmt: skip
        row["by_basis"][Basis(a["basis"]).label] += 1
        row["total"] += 1
        if a["basis"] == Basis.BREAK_GLASS and not a["justified"]:
            row["break_glass_unjustified"] += 1
    published = Counter(
        (m, r["custodian"]) for r in _all(db, records) if (m := _month(r["timestamp"], months))
    )
    reported: dict[int, int] = {}
    for step in _all(db, consultation_steps):
        if step["step"] == "reported":
            cid = step["consultation_id"]
            reported[cid] = min(reported.get(cid, step["timestamp"]), step["timestamp"])
    consult: dict[tuple[str, str], dict[str, Any]] = {}
    to_report: dict[tuple[str, str], list[int]] = defaultdict(list)

    def consult_row(m: str, member: str) -> dict[str, Any]:
        return consult.setdefault(
            (m, member),
            {"month": m, "member": member, "requested": 0, "received": 0, "answered": 0,
             "median_hours_to_report": None, "p90_hours_to_report": None},
        )  # fmt: skip

    for c in _all(db, consultations):
        m = _month(c["timestamp"], months)
        if not m:
            continue
        consult_row(m, c["requester"])["requested"] += 1
        consult_row(m, c["consultant"])["received"] += 1
        if c["consultation_id"] in reported:
            to_report[(m, c["consultant"])].append(reported[c["consultation_id"]] - c["timestamp"])
    for key, values in to_report.items():
        values.sort()
        row = consult[key]
        row["answered"] = len(values)
        row["median_hours_to_report"] = supervision.hours(_rank(values, 0.5))
        row["p90_hours_to_report"] = supervision.hours(_rank(values, 0.9))
    return {
        "counts": sorted((*k, n) for k, n in counts.items()),
        "acceptance": acceptance["receiver"],
        "acceptance_by_direction": acceptance["direction"],
        "reads": [reads[k] for k in sorted(reads)],
        "records": [
            {"month": m, "member": c, "records": n} for (m, c), n in sorted(published.items())
        ],
        "consultations": {"available": True, "rows": [consult[k] for k in sorted(consult)]},
    }


def _sql(db: IndexDB, months: supervision.Months) -> dict[str, Any]:
    figs = supervision.figures(db, months, {})
    return {
        "counts": sorted(supervision.referral_counts(db, months)),
        "acceptance": figs["acceptance"],
        "acceptance_by_direction": figs["acceptance_by_direction"],
        "reads": figs["reads"],
        "records": figs["records"],
        "consultations": figs["consultations"],
    }


def _cross_check(db: IndexDB) -> None:
    plant(db, members=MEMBERS, accesses_n=4000, referrals_n=600, records_n=500,
          consultations_n=400, start=T0, end=T_END)  # fmt: skip
    # Months cut inside the planted range, so rows before and after are left out.
    months = supervision.Months.between("2026-02", "2026-05")
    expected = reference(db, months)
    assert expected["counts"] and expected["acceptance"] and expected["reads"]
    assert any(r["break_glass_unjustified"] for r in expected["reads"])
    assert any(r["answered"] for r in expected["consultations"]["rows"])
    assert _sql(db, months) == expected


def test_sql_equals_python_on_sqlite(tmp_path: Path) -> None:
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        _cross_check(db)
    finally:
        db.close()


@pytest.mark.integration
def test_sql_equals_python_on_postgres() -> None:
    with running_postgres() as pg:
        db = IndexDB(pg.url)
        try:
            _cross_check(db)
        finally:
            db.close()


# ---- known figures ---------------------------------------------------------------------

H1, PJ, QY, REG = MEMBERS[:4]  # tertiary, county, township/community, regulator
TIERS = {H1: 3, PJ: 2, QY: 1, REG: None}
FEB = calendar.timegm((2026, 2, 3, 8, 0, 0))
MAR = calendar.timegm((2026, 3, 10, 8, 0, 0))
HOUR = 3600


def _referral(i: int, a: str, b: str, d: Direction, ts: int) -> dict[str, Any]:
    return {
        "referral_id": i, "patient": "0x" + "ab" * 20, "referrer": a, "receiver": b,
        "direction": int(d), "record_ids": "[]", "consent_id": 0, "status": 2,
        "reason_hash": "0x", "expires_at": 0, "block_number": i, "tx_hash": "0x", "timestamp": ts,
    }  # fmt: skip


def _access(i: int, reader: str, basis: Basis, ts: int, justified: bool = False) -> Any:
    return {
        "access_id": i, "record_id": 1, "patient": "0x" + "ab" * 20, "reader": reader,
        "logger": reader, "purpose": 0, "basis": int(basis), "basis_id": 0, "reason_hash": "0x",
        "justified": justified, "block_number": i, "tx_hash": "0x", "timestamp": ts,
    }  # fmt: skip


def plant_known(
    db: IndexDB, h1: str, pj: str, qy: str, feb: int = FEB, mar: int = MAR, first_id: int = 1
) -> None:
    """February: QY refers four patients up to H1, accepted after 1, 2, 3 and 10 hours; PJ
    one up to H1, never accepted; H1 two down (to PJ after 5 hours, to QY accepted twice:
    the first, after 4 hours, counts). March: one down from H1 to QY. Reads: H1 two on
    consent and one on referral, PJ one custodian and two break-glass (one justified). Ids
    from ``first_id`` (rows planted beside a chain's own)."""
    n = first_id - 1
    refs = [_referral(n + i + 1, qy, h1, Direction.UP, feb) for i in range(4)]
    refs += [
        _referral(n + 5, pj, h1, Direction.UP, feb),
        _referral(n + 6, h1, pj, Direction.DOWN, feb),
        _referral(n + 7, h1, qy, Direction.DOWN, feb),
        _referral(n + 8, h1, qy, Direction.DOWN, mar),
    ]
    accepted = ReferralStatus.ACCEPTED
    changes = [_change(n + i + 1, accepted, feb + h * HOUR) for i, h in enumerate((1, 2, 3, 10))]
    changes += [
        _change(n + 6, accepted, feb + 5 * HOUR),
        _change(n + 7, accepted, feb + 4 * HOUR),
        _change(n + 7, accepted, feb + 9 * HOUR),
        _change(n + 5, ReferralStatus.REJECTED, feb + HOUR),
    ]
    reads = [
        _access(n + 1, h1, Basis.CONSENT, feb),
        _access(n + 2, h1, Basis.CONSENT, feb + 1),
        _access(n + 3, h1, Basis.REFERRAL, feb + 2),
        _access(n + 4, pj, Basis.CUSTODIAN, feb),
        _access(n + 5, pj, Basis.BREAK_GLASS, feb, justified=True),
        _access(n + 6, pj, Basis.BREAK_GLASS, mar),
    ]
    _insert(db, referrals, refs)
    _insert(db, referral_changes, changes)
    _insert(db, accesses, reads)
    asked = [
        {
            "consultation_id": n + i, "patient": "0x" + "ab" * 20, "requester": qy,
            "consultant": h1, "record_ids": "[1]", "consent_id": 0, "status": 0,
            "question_hash": "0x", "expires_at": 0, "report_record_id": 0,
            "block_number": n + i, "tx_hash": "0x", "timestamp": feb,
        }
        for i in (1, 2, 3)
    ]  # fmt: skip
    steps = [
        consultation_step(n + 1, "reported", h1, feb + 2 * HOUR),
        consultation_step(n + 1, "reported", h1, feb + 9 * HOUR),  # the first one counts
        consultation_step(n + 2, "reported", h1, feb + 6 * HOUR),
        consultation_step(n + 3, "declined", h1, feb + HOUR),
    ]
    _insert(db, consultations, asked)
    _insert(db, consultation_steps, steps)


@pytest.fixture()
def known(tmp_path: Path) -> IndexDB:
    db = IndexDB(f"sqlite:///{tmp_path / 'known.sqlite3'}")
    plant_known(db, H1, PJ, QY)
    return db


def test_known_figures(known: IndexDB) -> None:
    figs = supervision.figures(known, supervision.Months.between("2026-02", "2026-03"), TIERS)
    assert figs["months"] == ["2026-02", "2026-03"]
    per_member = {(r["month"], r["member"]): r for r in figs["referrals"]}
    assert per_member[("2026-02", QY)] == {
        "month": "2026-02", "member": QY, "sent_up": 4, "sent_down": 0,
        "received_up": 0, "received_down": 1,
    }  # fmt: skip
    assert per_member[("2026-02", H1)]["received_up"] == 5
    assert per_member[("2026-02", H1)]["sent_down"] == 2
    flows = {(r["month"], r["from_tier"], r["to_tier"]): (r["up"], r["down"])
             for r in figs["tier_flows"]}  # fmt: skip
    assert flows == {
        ("2026-02", "township", "tertiary"): (4, 0),
        ("2026-02", "county", "tertiary"): (1, 0),
        ("2026-02", "tertiary", "county"): (0, 1),
        ("2026-02", "tertiary", "township"): (0, 1),
        ("2026-03", "tertiary", "township"): (0, 1),
    }
    assert figs["referral_totals"] == [
        {"month": "2026-02", "up": 5, "down": 2, "down_share_pct": 28.6},
        {"month": "2026-03", "up": 0, "down": 1, "down_share_pct": 100.0},
    ]
    # H1 accepted four: 1, 2, 3, 10 hours: median the 2nd (2 h), p90 the 4th (10 h).
    assert figs["acceptance"] == [
        {"month": "2026-02", "member": H1, "accepted": 4, "median_hours": 2.0, "p90_hours": 10.0},
        {"month": "2026-02", "member": PJ, "accepted": 1, "median_hours": 5.0, "p90_hours": 5.0},
        {"month": "2026-02", "member": QY, "accepted": 1, "median_hours": 4.0, "p90_hours": 4.0},
    ]
    by_direction = {r["direction"]: r for r in figs["acceptance_by_direction"]}
    assert by_direction["down"]["median_hours"] == 4.0 and by_direction["down"]["accepted"] == 2
    reads = {(r["month"], r["member"]): r for r in figs["reads"]}
    assert reads[("2026-02", H1)]["by_basis"] == {
        "consent": 2, "referral": 1, "break-glass": 0, "custodian": 0, "consultation": 0,
    }  # fmt: skip
    assert reads[("2026-02", PJ)]["break_glass_unjustified"] == 0
    assert reads[("2026-03", PJ)]["break_glass_unjustified"] == 1
    # QY asked H1 three times in February: reported after 2 and 6 hours, one declined.
    consult = {(r["month"], r["member"]): r for r in figs["consultations"]["rows"]}
    assert consult[("2026-02", QY)] == {
        "month": "2026-02", "member": QY, "requested": 3, "received": 0, "answered": 0,
        "median_hours_to_report": None, "p90_hours_to_report": None,
    }  # fmt: skip
    assert consult[("2026-02", H1)] == {
        "month": "2026-02", "member": H1, "requested": 0, "received": 3, "answered": 2,
        "median_hours_to_report": 2.0, "p90_hours_to_report": 6.0,
    }  # fmt: skip


def test_thresholds_raise_alerts(known: IndexDB) -> None:
    figs = supervision.figures(known, supervision.Months.between("2026-02", "2026-03"), TIERS)
    assert alerts(figs, Thresholds()) == []
    found = alerts(
        figs,
        Thresholds(
            break_glass_unjustified_max=0,
            acceptance_median_hours_max=4.5,
            referral_down_share_min_pct=30,
        ),
    )
    assert [(a["rule"], a["month"], a["member"], a["value"]) for a in found] == [
        ("acceptance-median", "2026-02", PJ, 5.0),
        ("referral-down-share", "2026-02", None, 28.6),
        ("break-glass-unjustified", "2026-03", PJ, 1),
    ]
    # The store keeps them at the gateway; a threshold left out is cleared.
    store = ThresholdStore(known.engine)
    store.replace({"break_glass_unjustified_max": 0, "acceptance_median_hours_max": None})
    assert Thresholds.stored(store.load()) == Thresholds(break_glass_unjustified_max=0)
    store.replace({})
    assert store.load() == {}


def test_csv(known: IndexDB) -> None:
    figs = supervision.figures(known, supervision.Months.between("2026-02", "2026-03"), TIERS)
    text = csv_lines(figs, {H1: "H1 (tertiary)"}, {H1: "tertiary"})
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {(r["month"], r["member"], r["figure"]): r["value"] for r in rows}
    assert got[("2026-02", H1, "acceptance_median_hours")] == "2.0"
    assert got[("2026-02", H1, "referrals_received_up")] == "5"
    assert got[("2026-02", "", "referrals_township_to_tertiary_up")] == "4"
    assert got[("2026-03", PJ, "break_glass_unjustified")] == "1"
    assert {r["member_name"] for r in rows if r["member"] == H1} == {"H1 (tertiary)"}
    assert got[("2026-02", H1, "consultations_answered")] == "2"
    assert got[("2026-02", H1, "consultations_median_hours_to_report")] == "2.0"


@pytest.mark.parametrize(
    ("first", "last", "error"),
    [
        ("2026-13", "2026-12", "not a month"),
        ("2026-5", "2026-12", "not a month"),
        ("2026-12", "2026-01", "before it starts"),
        ("2020-01", "2026-01", "at most 60 months"),
    ],
)
def test_bad_month_ranges(first: str, last: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        supervision.Months.between(first, last)


def test_months_across_a_year() -> None:
    m = supervision.Months.between("2025-11", "2026-02")
    assert m.labels == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert m.starts[0] == calendar.timegm((2025, 11, 1, 0, 0, 0))
    assert m.starts[-1] == calendar.timegm((2026, 3, 1, 0, 0, 0))

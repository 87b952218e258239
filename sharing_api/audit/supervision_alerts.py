"""What the supervision figures (``supervision.figures``) mean against the regulator's
thresholds (alerts), and the figures as CSV: one line per month, member and figure, so a
spreadsheet pivots them however the commission likes."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    """Each threshold is optional: None (or absent) means no alert of that kind."""

    model_config = ConfigDict(extra="forbid")  # a misspelt name is an error, not a clear

    break_glass_unjustified_max: int | None = Field(
        default=None, ge=0, le=1_000_000,
        description="break-glass reads not yet justified, per member per month, above which "
        "an alert is raised",
    )  # fmt: skip
    acceptance_median_hours_max: float | None = Field(
        default=None, ge=0, le=100_000,
        description="median hours from a referral to its acceptance, per receiving member "
        "per month, above which an alert is raised",
    )  # fmt: skip
    referral_down_share_min_pct: float | None = Field(
        default=None, ge=0, le=100,
        description="share (%) of the alliance's referrals in a month that go down, below "
        "which an alert is raised (months with referrals only)",
    )  # fmt: skip

    @classmethod
    def stored(cls, values: Mapping[str, float]) -> Thresholds:
        """From the store's floats (names this code no longer knows are left out)."""
        known: dict[str, Any] = {k: v for k, v in values.items() if k in cls.model_fields}
        if "break_glass_unjustified_max" in known:
            known["break_glass_unjustified_max"] = int(known["break_glass_unjustified_max"])
        return cls.model_validate(known)


def alerts(figs: Mapping[str, Any], t: Thresholds) -> list[dict[str, Any]]:
    """Every (rule, month, member) past its threshold; member None for the alliance."""
    found: list[dict[str, Any]] = []

    def alert(rule: str, row: Mapping[str, Any], value: float, threshold: float) -> None:
        found.append(
            {
                "rule": rule,
                "month": row["month"],
                "member": row.get("member"),
                "value": value,
                "threshold": threshold,
            }
        )

    if t.break_glass_unjustified_max is not None:
        for row in figs["reads"]:
            if row["break_glass_unjustified"] > t.break_glass_unjustified_max:
                alert(
                    "break-glass-unjustified",
                    row,
                    row["break_glass_unjustified"],
                    t.break_glass_unjustified_max,
                )
    if t.acceptance_median_hours_max is not None:
        for row in figs["acceptance"]:
            if row["median_hours"] > t.acceptance_median_hours_max:
                alert("acceptance-median", row, row["median_hours"], t.acceptance_median_hours_max)
    if t.referral_down_share_min_pct is not None:
        for row in figs["referral_totals"]:
            if row["down_share_pct"] < t.referral_down_share_min_pct:
                alert(
                    "referral-down-share",
                    {"month": row["month"], "member": None},
                    row["down_share_pct"],
                    t.referral_down_share_min_pct,
                )
    return sorted(found, key=lambda a: (a["month"], a["rule"], a["member"] or ""))


CSV_COLUMNS = ("month", "member", "member_name", "tier", "figure", "value")


def csv_lines(
    figs: Mapping[str, Any], names: Mapping[str, str], tiers: Mapping[str, str | None]
) -> str:
    """The figures as CSV (``CSV_COLUMNS``); member empty for alliance-wide figures. The
    consultation figures appear once the index has them (``available``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def put(month: str, member: str, figure: str, value: Any) -> None:
        w.writerow([month, member, names.get(member, ""), tiers.get(member) or "", figure, value])

    for row in figs["referrals"]:
        for k in ("sent_up", "sent_down", "received_up", "received_down"):
            put(row["month"], row["member"], f"referrals_{k}", row[k])
    for row in figs["referral_totals"]:
        for k in ("up", "down", "down_share_pct"):
            put(row["month"], "", f"referrals_{k}", row[k])
    for row in figs["tier_flows"]:
        flow = f"{row['from_tier'] or 'none'}_to_{row['to_tier'] or 'none'}"
        for k in ("up", "down"):
            put(row["month"], "", f"referrals_{flow}_{k}", row[k])
    for row in figs["acceptance"]:
        for k in ("accepted", "median_hours", "p90_hours"):
            put(row["month"], row["member"], f"acceptance_{k}", row[k])
    for row in figs["acceptance_by_direction"]:
        for k in ("accepted", "median_hours", "p90_hours"):
            put(row["month"], "", f"acceptance_{row['direction']}_{k}", row[k])
    for row in figs["reads"]:
        for basis, n in row["by_basis"].items():
            put(row["month"], row["member"], f"reads_{basis}", n)
        put(row["month"], row["member"], "reads_total", row["total"])
        put(row["month"], row["member"], "break_glass_unjustified", row["break_glass_unjustified"])
    for row in figs["records"]:
        put(row["month"], row["member"], "records_published", row["records"])
    consult = figs["consultations"]
    if consult["available"]:
        for row in consult["rows"]:
            for k, v in row.items():
                if k not in ("month", "member"):
                    put(row["month"], row["member"], f"consultations_{k}", v)
    return out.getvalue()

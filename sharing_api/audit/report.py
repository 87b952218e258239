"""`audit report`: an HTML page with inline SVG charts, a CSV of accesses and a FHIR R4
AuditEvent bundle, for the accesses in a date range. No plotting library: the charts are a
few rectangles, and the HTML is self-contained (no scripts, no external assets)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from sharing_api.audit.pseudonyms import records_under_shared_addresses
from sharing_api.audit.rules import Anomaly, day_of
from sharing_api.audit.sources import AuditData
from sharing_api.chain import Basis, Purpose
from sharing_api.fhir_export.audit_log import audit_bundle

CSV_FIELDS = (
    "access_id", "timestamp", "time_utc", "record_id", "patient", "reader", "logger", "purpose",
    "basis", "basis_id", "staff", "justified", "block_number", "tx_hash",
)  # fmt: skip
LISTING_COLUMNS = (
    "access", "time (UTC)", "record", "reader", "staff", "purpose", "basis", "justified", "tx",
)  # fmt: skip
ZERO_STAFF = "0x" + "00" * 32


def staff_label(row: dict[str, Any]) -> str:
    """Who read, as the chain says it: a staff pseudonym, or "" for the member itself."""
    staff = str(row.get("staff") or ZERO_STAFF)
    return "" if staff == ZERO_STAFF else staff


def basis_name(value: int) -> str:
    return Basis(int(value)).label


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write(csv_text(rows))


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """The accesses as CSV (one header line, one line per access, CRLF as csv writes)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(CSV_FIELDS)
    for r in rows:
        out.writerow(
            [
                r["access_id"], r["timestamp"],
                day_of(int(r["timestamp"])) + "T" + _clock(int(r["timestamp"])) + "Z",
                r["record_id"], r["patient"], r["reader"], r["logger"],
                Purpose(int(r["purpose"])).label, basis_name(r["basis"]), r["basis_id"],
                staff_label(r), str(bool(r["justified"])).lower(), r["block_number"], r["tx_hash"],
            ]
        )  # fmt: skip
    return buf.getvalue()


def _clock(ts: int) -> str:
    return f"{ts // 3600 % 24:02d}:{ts // 60 % 60:02d}:{ts % 60:02d}"


def bar_chart(title: str, counts: Sequence[tuple[str, int]], width: int = 640) -> str:
    """A horizontal bar chart as inline SVG (one bar per label)."""
    bar, gap, label_w = 18, 6, 200
    height = 30 + len(counts) * (bar + gap)
    top = max((n for _, n in counts), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, n) in enumerate(counts):
        y = 26 + i * (bar + gap)
        w = round((width - label_w - 50) * n / top)
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(label[:30])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar}" fill="#3b6ea5">'
            f"<title>{escape(label)}: {n}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{n}</text>')
    if not counts:
        parts.append('<text x="0" y="40" font-size="12">(none)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    rows: Sequence[dict[str, Any]],
    anomalies: Sequence[Anomaly],
    period: tuple[str, str],
    summary: dict[str, Any],
) -> str:
    per_day = sorted(Counter(day_of(int(r["timestamp"])) for r in rows).items())
    per_reader = Counter(str(r["reader"]) for r in rows).most_common()
    per_basis = sorted(Counter(basis_name(r["basis"]) for r in rows).items())
    per_rule = sorted(Counter(a.rule for a in anomalies).items())
    charts = "".join(
        f"<figure>{bar_chart(t, c)}</figure>"
        for t, c in (
            ("Accesses per day", per_day),
            ("Accesses per reader", per_reader),
            ("Accesses by basis", per_basis),
            ("Anomalies by rule", per_rule),
        )
    )
    facts = _table(["", ""], [(k, v) for k, v in summary.items()])
    found = _table(
        ["rule", "access", "reader", "detail"],
        [
            (a.rule, "" if a.access_id is None else a.access_id, a.reader, a.detail)
            for a in anomalies
        ],
    )
    listing = _table(
        LISTING_COLUMNS,
        [
            (
                r["access_id"],
                day_of(int(r["timestamp"])) + " " + _clock(int(r["timestamp"])),
                r["record_id"],
                r["reader"],
                staff_label(r),
                Purpose(int(r["purpose"])).label,
                f"{basis_name(r['basis'])} {r['basis_id']}",
                bool(r["justified"]),
                r["tx_hash"],
            )
            for r in rows
        ],
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Alliance audit report {escape(period[0])} to {escape(period[1])}</title>"
        f"<style>{style}</style></head><body>"
        f"<h1>Alliance audit report</h1><p>Period: {escape(period[0])} to "
        f"{escape(period[1])} (UTC, inclusive)</p>{facts}"
        f"<h2>Charts</h2>{charts}"
        f"<h2>Anomalies ({len(anomalies)})</h2>{found}"
        f"<h2>Accesses ({len(rows)})</h2>{listing}</body></html>"
    )


def write_report(
    out: Path,
    rows: Sequence[dict[str, Any]],
    anomalies: Sequence[Anomaly],
    period: tuple[str, str],
    summary: dict[str, Any],
    now: int,
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": out / "report.html",
        "csv": out / "accesses.csv",
        "fhir": out / "auditevents.json",
    }
    paths["html"].write_text(render_html(rows, anomalies, period, summary), encoding="utf-8")
    write_csv(rows, paths["csv"])
    # The API's own builder (sharing_api.fhir_export), BALP-shaped and validated as R4.
    bundle = audit_bundle(list(rows), now)
    paths["fhir"].write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    return paths


def in_period(
    data: AuditData, anomalies: Sequence[Anomaly], lo: int, hi: int
) -> tuple[list[dict[str, Any]], list[Anomaly]]:
    """The accesses with ``lo <= timestamp < hi`` and the anomalies about them (per-access
    findings on those accesses, per-reader findings on their readers)."""
    rows = [r for r in data.accesses if lo <= int(r["timestamp"]) < hi]
    return rows, anomalies_about(rows, anomalies)


def anomalies_about(rows: Sequence[dict[str, Any]], anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    """Per-access findings on these accesses and per-reader findings on their readers."""
    ids = {int(r["access_id"]) for r in rows}
    readers = {str(r["reader"]) for r in rows}
    return [
        a
        for a in anomalies
        if (a.access_id in ids) or (a.access_id is None and a.reader in readers)
    ]


def summary_of(
    data: AuditData, rows: Sequence[dict[str, Any]], found: Sequence[Anomaly]
) -> dict[str, Any]:
    """The facts table at the top of the report."""
    return {
        "chain head": data.head,
        "records on chain": len(data.records),
        "consents": len(data.history.consents),
        "revocations": len(data.history.revocations),
        "accesses in period": len(rows),
        "break-glass in period": sum(1 for r in rows if int(r["basis"]) == Basis.BREAK_GLASS),
        "anomalies": len(found),
        # Migration (#14): records whose patient address is seen at several custodians.
        "records under a shared (pre-pseudonym) address": records_under_shared_addresses(
            data.records
        ),
    }

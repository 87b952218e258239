"""The audit log in pages over a real SQLite index: following the cursor returns every event
exactly once, each page holds at most ``limit`` rows of each kind, a kind that ran out is
not asked again, and the last page has no cursor. Referral and consultation steps come from
one query per page, not one per referral (the N+1 the export had)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from sharing_api.fhir_export.audit_log import KINDS, Scope, audit_events, audit_page
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import (
    accesses,
    consents,
    consultation_steps,
    consultations,
    referral_changes,
    referrals,
)
from tests.fhir_export.samples import (
    CLINIC,
    H1,
    NOW,
    access_row,
    change,
    consent_row,
    consultation_row,
    referral_row,
    step,
)

COUNTS = {"access": 7, "consent": 5, "referral": 4, "consultation": 3}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[IndexDB]:
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    with db.engine.begin() as conn:
        conn.execute(
            insert(accesses),
            [access_row(1, access_id=i, timestamp=NOW + i) for i in range(1, 8)],
        )
        conn.execute(
            insert(consents),
            [consent_row(consent_id=i, timestamp=NOW + 10 + i) for i in range(1, 6)],
        )
        rows = [referral_row(referral_id=i, timestamp=NOW + 20 + i) for i in range(1, 5)]
        conn.execute(insert(referrals), [{**r, "record_ids": "[11, 12]"} for r in rows])
        conn.execute(
            insert(referral_changes),
            [
                {
                    **change(0, to, CLINIC if to == 1 else H1, NOW + 30 + 2 * ref + to),
                    "referral_id": ref,
                    "id": None,
                }
                for ref in range(1, 5)
                for to in (1, 2)
            ],
        )
        conn.execute(
            insert(consultations),
            [consultation_row(consultation_id=i, record_ids=json.dumps([11])) for i in range(1, 4)],
        )
        conn.execute(
            insert(consultation_steps),
            [
                {**step(name, CLINIC, NOW + 50 + 2 * c + k), "consultation_id": c, "id": None}
                for c in range(1, 4)
                for k, name in enumerate(("requested", "accepted"))
            ],
        )
    try:
        yield db
    finally:
        db.close()


def kind_of(event_id: str) -> str:
    return next(k for k in KINDS if event_id.startswith(k))


def test_following_the_cursor_gives_every_event_once(index: IndexDB) -> None:
    everything = [e["id"] for e in audit_events(index, Scope())]
    assert len(everything) == 7 + 5 + 4 * 2 + 3 * 2  # a consent decision: one event each
    pages: list[list[str]] = []
    after: dict[str, int] | None = None
    asked: list[set[str]] = []
    while True:
        page = audit_page(index, Scope(), limit=2, after=after)
        pages.append([e["id"] for e in page.events])
        asked.append(set(after) if after else set(KINDS))
        if page.next_after is None:
            break
        assert set(page.next_after) <= asked[-1]
        after = page.next_after
    seen = [i for p in pages for i in p]
    assert sorted(seen) == sorted(everything) and len(set(seen)) == len(seen)
    assert len(pages) == 4  # 7 accesses in pages of 2
    for ids in pages:
        by_kind: dict[str, set[str]] = {}
        for i in ids:  # rows, not events: a referral's steps share its row
            by_kind.setdefault(kind_of(i), set()).add(i.rsplit("-", 1)[0])
        assert all(len(rows) <= 2 for k, rows in by_kind.items() if k != "access"), ids
    assert asked[-1] == {"access"}  # the others ran out on earlier pages and were not asked


def test_a_full_last_page_says_there_is_no_more(index: IndexDB) -> None:
    page = audit_page(index, Scope(), kinds=["referral"], limit=4)
    assert page.next_after is None and len(page.events) == 8
    page = audit_page(index, Scope(), kinds=["referral"], limit=3)
    assert page.next_after == {"referral": 3}


def test_steps_come_from_one_query_per_page(index: IndexDB) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(index.engine, "before_cursor_execute", count)
    try:
        audit_page(index, Scope(), kinds=["referral", "consultation"], limit=100)
    finally:
        event.remove(index.engine, "before_cursor_execute", count)
    assert sum("referral_changes" in s for s in statements) == 1, statements
    assert sum("consultation_steps" in s for s in statements) == 1, statements

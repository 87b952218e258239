"""An index written before the consents kept their revocation time gets the column (empty:
its revocations export no AuditEvent until re-indexed), and nothing else changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import inspect

from sharing_api.fhir_export.audit_event import consent_events
from sharing_api.index.db import IndexDB
from tests.fhir_export.samples import consent_row


def test_an_old_index_gets_revoked_at(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as conn:  # the consents table as it was (columns trimmed)
        conn.execute("CREATE TABLE consents (consent_id BIGINT PRIMARY KEY, revoked BOOLEAN)")
        conn.execute("INSERT INTO consents VALUES (3, 1)")
    db = IndexDB(f"sqlite:///{path}")
    try:
        columns = {c["name"] for c in inspect(db.engine).get_columns("consents")}
        assert "revoked_at" in columns
        IndexDB(f"sqlite:///{path}").close()  # a second start finds it there: no error
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT consent_id, revoked, revoked_at FROM consents").fetchall() == [
            (3, 1, None)
        ]


def test_a_revocation_without_its_time_exports_only_the_grant() -> None:
    events = consent_events(consent_row(revoked=True, revoked_block=9, revoked_at=None))
    assert [e["id"] for e in events] == ["consent-3-grant"]

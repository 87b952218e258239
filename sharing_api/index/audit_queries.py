"""The regulator console's access queries: every filter and the row limit in SQL (the
generic ``IndexDB.accesses`` filters fewer fields and reads every matching row), and only
the columns a view needs (converting rows to dicts is most of the cost on a large index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql import ColumnElement

from sharing_api.index.db import IndexDB, Row
from sharing_api.index.schema import accesses, records


@dataclass(frozen=True)
class AccessFilter:
    reader: str | None = None
    patient: str | None = None
    purpose: int | None = None
    basis: int | None = None
    since: int | None = None  # Unix time, inclusive
    until: int | None = None  # Unix time, exclusive

    def where(self) -> list[ColumnElement[bool]]:
        c = accesses.c
        out: list[ColumnElement[bool]] = []
        if self.reader:
            out.append(c.reader == self.reader.lower())
        if self.patient:
            out.append(c.patient == self.patient.lower())
        if self.purpose is not None:
            out.append(c.purpose == self.purpose)
        if self.basis is not None:
            out.append(c.basis == self.basis)
        if self.since is not None:
            out.append(c.timestamp >= self.since)
        if self.until is not None:
            out.append(c.timestamp < self.until)
        return out


def access_rows(
    db: IndexDB,
    f: AccessFilter,
    *,
    columns: Sequence[str] | None = None,
    latest: int | None = None,
    before: int | None = None,
) -> list[Row]:
    """Matching accesses in chain order; ``latest``: only the newest N of them; ``before``:
    only those older than that access id (a page's cursor, paging back from the newest)."""
    cols = [accesses.c[name] for name in columns] if columns else [accesses]
    where = f.where()
    if before is not None:
        where.append(accesses.c.access_id < before)
    query: Any = select(*cols).where(*where)
    if latest is not None:
        query = query.order_by(accesses.c.access_id.desc()).limit(latest)
    else:
        query = query.order_by(accesses.c.access_id)
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return rows[::-1] if latest is not None else rows


def categories(db: IndexDB, record_ids: Sequence[int]) -> dict[int, int]:
    """record id -> category, for these records only."""
    wanted = sorted(set(record_ids))
    out: dict[int, int] = {}
    with db.engine.connect() as conn:
        for i in range(0, len(wanted), 1000):  # bound the IN list
            chunk = wanted[i : i + 1000]
            query = select(records.c.record_id, records.c.category).where(
                records.c.record_id.in_(chunk)
            )
            out.update({int(r[0]): int(r[1]) for r in conn.execute(query)})
    return out


def custodians(db: IndexDB, record_ids: Sequence[int]) -> dict[int, str]:
    """record id -> its custodian's address, for these records only."""
    wanted = sorted(set(record_ids))
    out: dict[int, str] = {}
    with db.engine.connect() as conn:
        for i in range(0, len(wanted), 1000):  # bound the IN list
            chunk = wanted[i : i + 1000]
            query = select(records.c.record_id, records.c.custodian).where(
                records.c.record_id.in_(chunk)
            )
            out.update({int(r[0]): str(r[1]) for r in conn.execute(query)})
    return out

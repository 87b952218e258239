"""The index database: engine set-up and the read queries the API serves from it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from crypto.labels import UNLABELLED, SecurityLabels
from sharing_api.index import schema
from sharing_api.index.schema import (
    accesses,
    consents,
    gateways,
    records,
    referral_changes,
    referrals,
)

Row = dict[str, Any]
# One patient address, or several: a patient's pairwise pseudonyms (one per custodian).
Patients = str | Sequence[str] | None


def patient_is(column: Any, patient: str | Sequence[str]) -> ColumnElement[bool]:
    """``column`` is the patient, or one of the patient's addresses."""
    if isinstance(patient, str):
        return column == patient.lower()  # type: ignore[no-any-return]
    return column.in_([p.lower() for p in patient])  # type: ignore[no-any-return]


def make_engine(url: str) -> Engine:
    """SQLite (default; WAL so readers never wait for the indexer) or PostgreSQL (psycopg 3)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _rows(conn: Connection, query: Any) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(query)]


class IndexDB:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        schema.metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """An index from before a nullable column was added gets it (empty until re-indexed)."""
        added = {
            "consents": {"revoked_at": "BIGINT"},
            "records": {"confidentiality": "VARCHAR(1)", "sensitivity": "TEXT"},
        }
        for table, columns in added.items():
            have = {c["name"] for c in inspect(self.engine).get_columns(table)}
            with self.engine.begin() as conn:
                for name, kind in columns.items():
                    if name not in have:
                        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))

    def close(self) -> None:
        self.engine.dispose()

    # ---- queries -------------------------------------------------------------------------

    def _select(
        self,
        table: Any,
        *where: ColumnElement[bool],
        order: Any,
        limit: int | None,
        after: int | None = None,
    ) -> list[Row]:
        """Rows in ``order`` (an id column), those past ``after`` only (a page's cursor);
        ``limit`` None: all of them (callers that page pass one more than a page)."""
        if after is not None:
            where = (*where, order > after)
        query = select(table).where(*where).order_by(order).limit(limit)
        with self.engine.connect() as conn:
            return _rows(conn, query)

    def record(self, record_id: int) -> Row | None:
        found = self._select(
            records, records.c.record_id == record_id, order=records.c.record_id, limit=1
        )
        return found[0] if found else None

    def records(
        self,
        *,
        patient: Patients = None,
        custodian: str | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Row]:
        where = []
        if patient is not None and patient != "":
            where.append(patient_is(records.c.patient, patient))
        if custodian:
            where.append(records.c.custodian == custodian.lower())
        return self._select(records, *where, order=records.c.record_id, limit=limit, after=after)

    def counts(self, break_glass_basis: int) -> dict[str, int]:
        """The audit summary's counts, each a COUNT in the database (never every row)."""

        def count(table: Any, *where: ColumnElement[bool]) -> Any:
            return select(func.count()).select_from(table).where(*where).scalar_subquery()

        bg = accesses.c.basis == break_glass_basis
        query = select(
            count(records).label("records"),
            count(records, records.c.erased.is_(True)).label("erased_records"),
            count(consents).label("consents"),
            count(consents, consents.c.revoked.is_(True)).label("revoked_consents"),
            count(referrals).label("referrals"),
            count(accesses).label("accesses"),
            count(accesses, bg).label("break_glass"),
            count(accesses, bg, accesses.c.justified.is_(False)).label("break_glass_unjustified"),
        )
        with self.engine.connect() as conn:
            return {k: int(v) for k, v in conn.execute(query).one()._mapping.items()}

    def shared_addresses(self) -> tuple[int, int]:
        """(patient addresses with records at two or more custodians, their records): what
        the pairwise-pseudonym migration still has to move. Counted in the database, so the
        console's status never loads every record."""
        per_patient = (
            select(
                records.c.patient,
                func.count(func.distinct(records.c.custodian)).label("custodians"),
                func.count().label("n"),
            )
            .group_by(records.c.patient)
            .subquery()
        )
        query = select(func.count(), func.coalesce(func.sum(per_patient.c.n), 0)).where(
            per_patient.c.custodians >= 2
        )
        with self.engine.connect() as conn:
            addresses, in_them = conn.execute(query).one()
        return int(addresses), int(in_them)

    def set_policy(self, record_id: int, policy: str, labels: SecurityLabels = UNLABELLED) -> None:
        """The policy text and security labels of a record whose sealed header came through
        this gateway (the chain holds only their commitment)."""
        values = {
            "policy": policy,
            "confidentiality": labels.confidentiality,
            "sensitivity": ",".join(labels.sensitivity),
        }
        with self.engine.begin() as conn:
            conn.execute(update(records).where(records.c.record_id == record_id).values(values))

    def records_by_cid(self, cid: str) -> list[Row]:
        return self._select(records, records.c.cid == cid, order=records.c.record_id, limit=10)

    def consent(self, consent_id: int) -> Row | None:
        found = self._select(
            consents, consents.c.consent_id == consent_id, order=consents.c.consent_id, limit=1
        )
        return found[0] if found else None

    def consents(
        self,
        *,
        patient: Patients = None,
        grantee: str | None = None,
        grantee_roles: int = 0,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Row]:
        """Consents, oldest first; with ``grantee``, only those a member is party to: granted
        to its address, or to a role among ``grantee_roles`` (its role bits)."""
        where = [patient_is(consents.c.patient, patient)] if patient not in (None, "") else []
        if grantee is not None:
            party = consents.c.grantee == grantee.lower()
            if grantee_roles:
                party = party | (consents.c.grantee_role.bitwise_and(int(grantee_roles)) != 0)
            where.append(party)
        order = consents.c.consent_id
        return self._select(consents, *where, order=order, limit=limit, after=after)

    def referral(self, referral_id: int) -> Row | None:
        found = self._select(
            referrals,
            referrals.c.referral_id == referral_id,
            order=referrals.c.referral_id,
            limit=1,
        )
        return _referral(found[0]) if found else None

    def referrals(
        self,
        *,
        patient: Patients = None,
        party: str | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Row]:
        where = []
        if patient is not None and patient != "":
            where.append(patient_is(referrals.c.patient, patient))
        if party:
            p = party.lower()
            where.append((referrals.c.referrer == p) | (referrals.c.receiver == p))
        order = referrals.c.referral_id
        return [
            _referral(r)
            for r in self._select(referrals, *where, order=order, limit=limit, after=after)
        ]

    def referral_history(
        self, referral_id: int, *, limit: int | None = None, after: int | None = None
    ) -> list[Row]:
        return self._select(
            referral_changes,
            referral_changes.c.referral_id == referral_id,
            order=referral_changes.c.id,
            limit=limit,
            after=after,
        )

    def referral_histories(self, referral_ids: list[int]) -> dict[int, list[Row]]:
        """The changes of each of these referrals, oldest first: one query for them all."""
        if not referral_ids:
            return {}
        c = referral_changes.c
        rows = self._select(
            referral_changes, c.referral_id.in_(referral_ids), order=c.id, limit=None
        )
        found: dict[int, list[Row]] = {}
        for row in rows:
            found.setdefault(int(row["referral_id"]), []).append(row)
        return found

    def accesses(
        self,
        *,
        patient: Patients = None,
        reader: str | None = None,
        record_id: int | None = None,
        basis: int | None = None,
        unjustified: bool = False,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Row]:
        where: list[ColumnElement[bool]] = []
        if patient is not None and patient != "":
            where.append(patient_is(accesses.c.patient, patient))
        if reader:
            where.append(accesses.c.reader == reader.lower())
        if record_id is not None:
            where.append(accesses.c.record_id == record_id)
        if basis is not None:
            where.append(accesses.c.basis == basis)
        if unjustified:
            where.append(accesses.c.justified.is_(False))
        order = accesses.c.access_id
        return self._select(accesses, *where, order=order, limit=limit, after=after)

    def access(self, access_id: int) -> Row | None:
        found = self._select(
            accesses, accesses.c.access_id == access_id, order=accesses.c.access_id, limit=1
        )
        return found[0] if found else None

    def gateway_changes(self, *, member: str | None = None, limit: int = 1000) -> list[Row]:
        """Changes of the gateway directory in chain order: url and fingerprint set (or moved),
        or both None where the entry was cleared (by governance or the member's removal)."""
        where = [gateways.c.member == member.lower()] if member else []
        order = (gateways.c.block_number, gateways.c.log_index)
        query = select(gateways).where(*where).order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            return _rows(conn, query)

    def next_block(self, name: str = "alliance") -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(schema.cursor.c.next_block).where(schema.cursor.c.name == name)
            ).scalar()
        return None if value is None else int(value)


def _referral(row: Row) -> Row:
    out = dict(row)
    out["record_ids"] = [int(i) for i in json.loads(row["record_ids"])]
    return out


def ids(rows: Sequence[Row], key: str) -> list[int]:
    return [int(r[key]) for r in rows]

"""Referral proposals: a member's offer to refer a patient, waiting for the patient's answer.

Off chain on purpose: nothing is on chain until the patient signs (then the API submits
``createWithSig`` as the referrer). The table lives in the index database but has its own
``MetaData``, so rebuilding the chain index never touches it and the index schema stays the
indexer's own. Works on SQLite and PostgreSQL (SQLAlchemy Core only)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

from crypto.text_commitment import new_salt
from sharing_api.index.db import Patients, patient_is

metadata = MetaData()

PENDING, ACCEPTING, ACCEPTED, DECLINED = "pending", "accepting", "accepted", "declined"

proposals = Table(
    "referral_proposals",
    metadata,
    Column("proposal_id", Integer, primary_key=True, autoincrement=True),
    Column("patient", String(42), nullable=False, index=True),
    Column("referrer", String(42), nullable=False, index=True),
    Column("receiver", String(42), nullable=False),
    Column("direction", Integer, nullable=False),
    Column("record_ids", Text, nullable=False),  # JSON list of ints
    Column("reason", Text, nullable=False),
    # 0x-hex, 32 bytes: the reason's salt, shown to the patient with the reason, whose
    # wallet computes the commitment it signs (crypto.text_commitment) from both.
    Column("reason_salt", String(66), nullable=True),
    Column("proposed_by", String(128), nullable=False),  # member address or staff id
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("answered_at", BigInteger, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("referral_id", BigInteger, nullable=True),
    Column("tx_hash", String(66), nullable=True),
)

Row = dict[str, Any]


def _out(row: Any) -> Row:
    out = dict(row._mapping)
    out["record_ids"] = [int(i) for i in json.loads(out["record_ids"])]
    return out


class ProposalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self._add_reason_salts()

    def _add_reason_salts(self) -> None:
        """A table from before salted reasons gets the column, and each proposal a salt."""
        columns = {c["name"] for c in inspect(self.engine).get_columns("referral_proposals")}
        with self.engine.begin() as conn:
            if "reason_salt" not in columns:
                conn.execute(
                    text("ALTER TABLE referral_proposals ADD COLUMN reason_salt VARCHAR(66)")
                )
            unsalted = conn.execute(
                select(proposals.c.proposal_id).where(proposals.c.reason_salt.is_(None))
            ).scalars()
            for proposal_id in list(unsalted):
                conn.execute(
                    proposals.update()
                    .where(proposals.c.proposal_id == proposal_id)
                    .values(reason_salt="0x" + new_salt().hex())
                )

    def add(
        self,
        *,
        patient: str,
        referrer: str,
        receiver: str,
        direction: int,
        record_ids: Sequence[int],
        reason: str,
        proposed_by: str,
        expires_at: int,
        reason_salt: bytes | None = None,
    ) -> Row:
        values = {
            "patient": patient.lower(),
            "referrer": referrer.lower(),
            "receiver": receiver.lower(),
            "direction": direction,
            "record_ids": json.dumps([int(i) for i in record_ids]),
            "reason": reason,
            "reason_salt": "0x" + (reason_salt or new_salt()).hex(),
            "proposed_by": proposed_by,
            "created_at": int(time.time()),
            "expires_at": expires_at,
            "status": PENDING,
            "note": "",
        }
        with self.engine.begin() as conn:
            result = conn.execute(proposals.insert().values(**values))
            key = result.inserted_primary_key
        assert key is not None
        found = self.get(int(key[0]))
        assert found is not None
        return found

    def get(self, proposal_id: int) -> Row | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(proposals).where(proposals.c.proposal_id == proposal_id)
            ).first()
        return _out(row) if row is not None else None

    def list(
        self,
        *,
        patient: Patients = None,
        referrer: str | None = None,
        receiver: str | None = None,
        limit: int | None = None,
        before: int | None = None,
    ) -> list[Row]:
        """Newest first; ``before``: only proposals older than that id (a page's cursor)."""
        query = select(proposals)
        if before is not None:
            query = query.where(proposals.c.proposal_id < before)
        if receiver:
            query = query.where(proposals.c.receiver == receiver.lower())
        if patient is not None and patient != "":
            query = query.where(patient_is(proposals.c.patient, patient))
        if referrer:
            query = query.where(proposals.c.referrer == referrer.lower())
        query = query.order_by(proposals.c.proposal_id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_out(r) for r in conn.execute(query)]

    def claim(self, proposal_id: int, to: str) -> bool:
        """Move a pending proposal to ``to`` atomically; False if it was not pending (someone
        answered first). The conditional UPDATE is the lock, on SQLite and PostgreSQL alike."""
        with self.engine.begin() as conn:
            result = conn.execute(
                proposals.update()
                .where(proposals.c.proposal_id == proposal_id, proposals.c.status == PENDING)
                .values(status=to, answered_at=int(time.time()))
            )
        return bool(result.rowcount == 1)

    def release(self, proposal_id: int) -> None:
        """Undo a claim whose chain transaction failed: the patient may try again."""
        with self.engine.begin() as conn:
            conn.execute(
                proposals.update()
                .where(proposals.c.proposal_id == proposal_id, proposals.c.status == ACCEPTING)
                .values(status=PENDING, answered_at=None)
            )

    def finish(self, proposal_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                proposals.update().where(proposals.c.proposal_id == proposal_id).values(**values)
            )

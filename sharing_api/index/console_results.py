"""The regulator console's last verification result, kept in the index database so the
console still shows it after the API restarts (and every worker of one API shows the same).

Not chain data: like the referral proposals, the table has its own ``MetaData``, so
rebuilding the chain index never touches it. One row (``slot`` 1), replaced on each run.
Works on SQLite and PostgreSQL (SQLAlchemy Core only)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    insert,
    select,
)

metadata = MetaData()

LAST = 1

verifications = Table(
    "console_verification",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("ran_at", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: {"chain": {...}, "blobs": {...}, "errors": []}
)


class VerificationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def save(self, result: dict[str, Any]) -> None:
        """Replace the kept result with ``result`` (ran_at, seconds, ok, chain, blobs,
        errors)."""
        detail = {k: result[k] for k in ("chain", "blobs", "errors")}
        with self.engine.begin() as conn:
            conn.execute(delete(verifications).where(verifications.c.slot == LAST))
            conn.execute(
                insert(verifications).values(
                    slot=LAST,
                    ran_at=int(result["ran_at"]),
                    seconds=float(result["seconds"]),
                    ok=bool(result["ok"]),
                    detail=json.dumps(detail, sort_keys=True),
                )
            )

    def load(self) -> dict[str, Any] | None:
        """The kept result, or None if no verification has run against this database."""
        with self.engine.connect() as conn:
            row = conn.execute(select(verifications).where(verifications.c.slot == LAST)).first()
        if row is None:
            return None
        detail = json.loads(row.detail)
        return {
            "ran_at": int(row.ran_at),
            "seconds": float(row.seconds),
            "ok": bool(row.ok),
            "chain": dict(detail["chain"]),
            "blobs": dict(detail["blobs"]),
            "errors": [str(e) for e in detail["errors"]],
        }

"""The gateway's own break-glass state (not chain data, so its own ``MetaData``, like the
served accesses): the per-person rate limit and the reasons and justifications sealed to
the regulator's audit key. In the index DB, so restarts and every worker agree."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)

metadata = MetaData()

break_glass_turns = Table(
    "break_glass_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member", String(42), nullable=False),
    Column("staff", String(160), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_break_glass_turns_person", "member", "staff", "at"),
)

# ``staff``: who broke the glass (kind reason) or justified it (kind justification).
break_glass_texts = Table(
    "break_glass_texts",
    metadata,
    Column("access_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),
    Column("member", String(42), nullable=False),
    Column("staff", String(160), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("commitment", String(66), nullable=False),
)


@dataclass(frozen=True)
class SealedText:
    access_id: int
    kind: str
    member: str
    staff: str
    envelope: bytes
    commitment: str  # 0x-hex, as on chain


class BreakGlassStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def take_turn(
        self, member: str, staff: str, limit: int, window_s: int, now: float | None = None
    ) -> float | None:
        """Count one break-glass read for this person; None if within ``limit`` per
        ``window_s``, else the time (epoch s) when the oldest counted read leaves the window
        (nothing is counted then)."""
        at = time.time() if now is None else now
        person = (break_glass_turns.c.member == member.lower()) & (
            break_glass_turns.c.staff == staff
        )
        with self.engine.begin() as conn:
            conn.execute(
                delete(break_glass_turns).where(person, break_glass_turns.c.at <= at - window_s)
            )
            taken = conn.execute(
                select(func.count(), func.min(break_glass_turns.c.at)).where(person)
            ).one()
            if int(taken[0]) >= limit:
                return float(taken[1]) + window_s
            conn.execute(
                insert(break_glass_turns).values(member=member.lower(), staff=staff, at=at)
            )
        return None

    def put(self, text: SealedText) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(break_glass_texts).values(
                    access_id=text.access_id,
                    kind=text.kind,
                    member=text.member.lower(),
                    staff=text.staff,
                    envelope=text.envelope,
                    commitment=text.commitment,
                )
            )

    def texts(self, access_id: int) -> dict[str, SealedText]:
        """The sealed texts of one access, by kind (reason, justification)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(break_glass_texts).where(break_glass_texts.c.access_id == access_id)
            ).mappings()
            return {
                r["kind"]: SealedText(
                    int(r["access_id"]),
                    r["kind"],
                    r["member"],
                    r["staff"],
                    bytes(r["envelope"]),
                    r["commitment"],
                )
                for r in rows
            }

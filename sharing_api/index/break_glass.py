"""The gateway's own break-glass state (not chain data, so its own ``MetaData``, like the
served accesses): the per-person rate limit and the reasons and justifications sealed to
the regulator's audit key. In the index DB, so restarts and every worker agree."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

metadata = MetaData()

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

    def put(self, text: SealedText, *, replace: bool = False) -> None:
        """Keep ``text``; ``replace``: over an earlier one of the same kind (a justification
        whose chain transaction never went through, so the chain commits to neither)."""
        with self.engine.begin() as conn:
            if replace:
                conn.execute(
                    delete(break_glass_texts).where(
                        break_glass_texts.c.access_id == text.access_id,
                        break_glass_texts.c.kind == text.kind,
                    )
                )
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

    def forget(self, access_id: int, kind: str, commitment: str) -> None:
        """Drop a text the chain did not take (only if it is still that one)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(break_glass_texts).where(
                    break_glass_texts.c.access_id == access_id,
                    break_glass_texts.c.kind == kind,
                    break_glass_texts.c.commitment == commitment,
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

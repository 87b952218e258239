"""A consultation's free text kept off chain by the gateway that wrote it: the question (the
requester's) and the step notes, each with its salt; the chain holds only the salted
commitment (``crypto.text_commitment``). Not chain data, so its own ``MetaData`` (like the
referral texts): rebuilding the chain index never touches it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

metadata = MetaData()

consultation_texts = Table(
    "consultation_texts",
    metadata,
    Column("consultation_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),  # crypto.text_commitment.KINDS
    Column("member", String(42), nullable=False),  # the member whose gateway wrote it
    Column("author", String(160), nullable=False),  # staff id@member, or the member
    Column("text", Text, nullable=False),
    Column("salt", LargeBinary, nullable=False),
    Column("commitment", String(66), nullable=False),  # 0x-hex, as sent to the chain
    Column("created_at", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class ConsultationText:
    consultation_id: int
    kind: str
    member: str
    author: str
    text: str
    salt: bytes
    commitment: str


class ConsultationTextStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def put(self, text: ConsultationText) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(consultation_texts).values(
                    consultation_id=text.consultation_id,
                    kind=text.kind,
                    member=text.member.lower(),
                    author=text.author,
                    text=text.text,
                    salt=text.salt,
                    commitment=text.commitment,
                    created_at=int(time.time()),
                )
            )

    def texts(self, consultation_id: int) -> dict[str, ConsultationText]:
        """The texts of one consultation this gateway holds, by kind."""
        c = consultation_texts.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(consultation_texts).where(c.consultation_id == consultation_id)
            ).mappings()
            return {
                r["kind"]: ConsultationText(
                    int(r["consultation_id"]),
                    r["kind"],
                    r["member"],
                    r["author"],
                    r["text"],
                    bytes(r["salt"]),
                    r["commitment"],
                )
                for r in rows
            }

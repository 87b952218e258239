"""Referral free text kept off chain by the gateway that wrote it: the reason and the reject,
complete and cancel notes, each with its salt; the chain holds only the salted commitment
(``crypto.text_commitment``). Not chain data, so its own ``MetaData`` (like the break-glass
texts): rebuilding the chain index never touches it. SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from contextlib import suppress
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
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

referral_texts = Table(
    "referral_texts",
    metadata,
    Column("referral_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),  # crypto.text_commitment.KINDS
    Column("member", String(42), nullable=False),  # the member whose gateway wrote it
    # staff id@member, or the member; "copy": fetched from the writer's gateway and checked
    Column("author", String(160), nullable=False),
    Column("text", Text, nullable=False),
    Column("salt", LargeBinary, nullable=False),
    Column("commitment", String(66), nullable=False),  # 0x-hex, as sent to the chain
    Column("created_at", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class StoredText:
    referral_id: int
    kind: str
    member: str
    author: str
    text: str
    salt: bytes
    commitment: str


class ReferralTextStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def put(self, text: StoredText) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(referral_texts).values(
                    referral_id=text.referral_id,
                    kind=text.kind,
                    member=text.member.lower(),
                    author=text.author,
                    text=text.text,
                    salt=text.salt,
                    commitment=text.commitment,
                    created_at=int(time.time()),
                )
            )

    def texts(self, referral_id: int) -> dict[str, StoredText]:
        """The texts of one referral this gateway holds, by kind."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(referral_texts).where(referral_texts.c.referral_id == referral_id)
            ).mappings()
            return {
                r["kind"]: StoredText(
                    int(r["referral_id"]),
                    r["kind"],
                    r["member"],
                    r["author"],
                    r["text"],
                    bytes(r["salt"]),
                    r["commitment"],
                )
                for r in rows
            }

    def keep_copy(self, text: StoredText) -> None:
        """Keep a text fetched from the gateway that wrote it (checked against the chain by
        the caller), unless one of that kind is held already."""
        with suppress(IntegrityError):  # held already (a concurrent fetch, or our own)
            self.put(text)

    def reasons(self, referral_ids: list[int]) -> dict[int, tuple[str, bytes]]:
        """(text, salt) of the reasons held here of these referrals, by referral id."""
        if not referral_ids:
            return {}
        c = referral_texts.c
        query = select(c.referral_id, c.text, c.salt).where(
            c.kind == "reason", c.referral_id.in_(referral_ids)
        )
        with self.engine.connect() as conn:
            return {int(r[0]): (str(r[1]), bytes(r[2])) for r in conn.execute(query)}

"""Free text kept off chain by the gateway that wrote it, each with its salt; the chain holds
only the salted commitment (``crypto.text_commitment``). One store shape for referrals and
consultations (one table each, keyed by the subject's id and the text's kind). Not chain
data, so each table has its own ``MetaData``: rebuilding the chain index never touches it.
SQLite and PostgreSQL alike."""

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


def text_table(name: str, id_column: str) -> Table:
    """The table ``name`` keyed by (``id_column``, kind), in a ``MetaData`` of its own."""
    return Table(
        name,
        MetaData(),
        Column(id_column, BigInteger, primary_key=True, autoincrement=False),
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
    subject_id: int  # the referral's or the consultation's id
    kind: str
    member: str
    author: str
    text: str
    salt: bytes
    commitment: str


class CommittedTextStore:
    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine, self.table = engine, table
        self._id = table.primary_key.columns.values()[0]
        table.metadata.create_all(engine)

    def put(self, text: StoredText) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(self.table).values(
                    {
                        self._id.name: text.subject_id,
                        "kind": text.kind,
                        "member": text.member.lower(),
                        "author": text.author,
                        "text": text.text,
                        "salt": text.salt,
                        "commitment": text.commitment,
                        "created_at": int(time.time()),
                    }
                )
            )

    def texts(self, subject_id: int) -> dict[str, StoredText]:
        """The texts of one referral or consultation this gateway holds, by kind."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.table).where(self._id == subject_id)).mappings()
            return {
                r["kind"]: StoredText(
                    int(r[self._id.name]),
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

    def reasons(self, subject_ids: list[int]) -> dict[int, tuple[str, bytes]]:
        """(text, salt) of the reasons held here, by subject id."""
        if not subject_ids:
            return {}
        c = self.table.c
        query = select(self._id, c.text, c.salt).where(
            c.kind == "reason", self._id.in_(subject_ids)
        )
        with self.engine.connect() as conn:
            return {int(r[0]): (str(r[1]), bytes(r[2])) for r in conn.execute(query)}

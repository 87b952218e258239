"""Accesses a custodian's gateway has served: each on-chain access entry buys one fetch.

Not chain data: like the referral proposals, the table has its own ``MetaData``. The INSERT
is the check: of two requests racing on one access id, the primary key lets one through."""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

served_accesses = Table(
    "served_accesses",
    metadata,
    Column("access_id", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", BigInteger, nullable=False),
    Column("reader", String(42), nullable=False),
    Column("served_at", BigInteger, nullable=False),
)


class ServedAccesses:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def claim(self, access_id: int, record_id: int, reader: str) -> bool:
        """True the first time an access id is claimed, False ever after."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(served_accesses).values(
                        access_id=access_id,
                        record_id=record_id,
                        reader=reader.lower(),
                        served_at=int(time.time()),
                    )
                )
        except IntegrityError:
            return False
        return True

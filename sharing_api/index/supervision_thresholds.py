"""The supervision thresholds the regulator set at its gateway (``PUT
/audit/supervision/thresholds``), kept in the index database like the console's last
verification (``console_results``): their own ``MetaData``, so rebuilding the chain index
never touches them; SQLAlchemy Core, so SQLite and PostgreSQL alike. One row per threshold
set; a threshold cleared has no row."""

from __future__ import annotations

import time

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, insert, select

metadata = MetaData()

thresholds = Table(
    "supervision_thresholds",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Float, nullable=False),
    Column("set_at", Float, nullable=False),
)


class ThresholdStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def replace(self, values: dict[str, float | None]) -> None:
        """Set these thresholds as the whole set (None: cleared), in one transaction."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(thresholds))
            for name, value in sorted(values.items()):
                if value is not None:
                    conn.execute(
                        insert(thresholds).values(name=name, value=float(value), set_at=now)
                    )

    def load(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            return {
                str(r.name): float(r.value)
                for r in conn.execute(select(thresholds.c.name, thresholds.c.value))
            }

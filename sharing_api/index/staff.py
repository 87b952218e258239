"""A gateway's staff tables: pseudonyms it issued, revoked staff, ABE keys it issued to staff."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import insert

from sharing_api.index.schema import (
    staff_key_deliveries,
    staff_keys,
    staff_pseudonyms,
    staff_revocations,
)


@dataclass(frozen=True)
class StaffIdentity:
    pseudonym: str  # 0x-hex
    member: str  # lowercase
    staff_id: str
    role: str
    first_seen: float


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    member: str
    staff_id: str
    attributes: tuple[str, ...]
    generation: int
    expiry_epoch: int


class StaffStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._known: set[str] = set()  # pseudonyms already in the table (spares a write)

    # ---- pseudonyms ----------------------------------------------------------------------

    def remember(self, pseudonym: bytes, member: str, staff_id: str, role: str) -> None:
        """Keep who a pseudonym stands for (first sighting wins; later ones change nothing)."""
        key = "0x" + pseudonym.hex()
        if key in self._known:
            return
        row = {
            "pseudonym": key,
            "member": member.lower(),
            "staff_id": staff_id,
            "role": role,
            "first_seen": self.clock(),
        }
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.execute(sqlite_insert(staff_pseudonyms).values(row).on_conflict_do_nothing())
            else:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(staff_pseudonyms).values(row))
                except IntegrityError:
                    pass  # another worker remembered it first
        self._known.add(key)

    def identity(self, pseudonym: str) -> StaffIdentity | None:
        query = select(staff_pseudonyms).where(staff_pseudonyms.c.pseudonym == pseudonym.lower())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StaffIdentity(**row._mapping)

    # ---- revocation ----------------------------------------------------------------------

    def revoke(self, member: str, staff_id: str) -> bool:
        """Revoke a member's staff id for good; False if it was revoked already."""
        row = {"member": member.lower(), "staff_id": staff_id, "revoked_at": self.clock()}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(staff_revocations).values(row))
        except IntegrityError:
            return False
        return True

    def revoked(self, member: str) -> set[str]:
        """Every revoked staff id of ``member``."""
        query = select(staff_revocations.c.staff_id).where(
            staff_revocations.c.member == member.lower()
        )
        with self.engine.connect() as conn:
            return {str(r.staff_id) for r in conn.execute(query)}

    def is_revoked(self, member: str, staff_id: str) -> bool:
        query = select(staff_revocations.c.revoked_at).where(
            staff_revocations.c.member == member.lower(),
            staff_revocations.c.staff_id == staff_id,
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    # ---- ABE keys ------------------------------------------------------------------------

    def record_key(self, key: IssuedKey) -> None:
        row = {
            "key_id": key.key_id,
            "member": key.member.lower(),
            "staff_id": key.staff_id,
            "attributes": json.dumps(list(key.attributes)),
            "generation": key.generation,
            "expiry_epoch": key.expiry_epoch,
            "issued_at": self.clock(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(staff_keys).values(row))

    def record_reissued(
        self, keys: list[tuple[IssuedKey, bytes]], params_fingerprint: bytes
    ) -> None:
        """Record keys a rotation re-issued and keep each (sealed) for its holder, in one
        transaction: either all of a rotation's keys are recorded or none."""
        now = self.clock()
        with self.engine.begin() as conn:
            for key, sealed in keys:
                conn.execute(
                    insert(staff_keys).values(
                        key_id=key.key_id,
                        member=key.member.lower(),
                        staff_id=key.staff_id,
                        attributes=json.dumps(list(key.attributes)),
                        generation=key.generation,
                        expiry_epoch=key.expiry_epoch,
                        issued_at=now,
                    )
                )
                conn.execute(
                    insert(staff_key_deliveries).values(
                        key_id=key.key_id,
                        member=key.member.lower(),
                        staff_id=key.staff_id,
                        params_fingerprint=params_fingerprint.hex(),
                        sealed=sealed,
                    )
                )

    def waiting(
        self, member: str, staff_id: str, params_fingerprint: bytes
    ) -> list[tuple[str, bytes]]:
        """(key id, sealed key) re-issued to this person for the authority generation with
        ``params_fingerprint`` (a crashed rotation's keys, for a generation never put in
        service, are never handed out)."""
        d = staff_key_deliveries.c
        query = select(d.key_id, d.sealed).where(
            d.member == member.lower(),
            d.staff_id == staff_id,
            d.params_fingerprint == params_fingerprint.hex(),
        )
        with self.engine.connect() as conn:
            return [(str(r.key_id), bytes(r.sealed)) for r in conn.execute(query)]

    def keys(self, member: str, staff_id: str | None = None) -> list[IssuedKey]:
        query = select(staff_keys).where(staff_keys.c.member == member.lower())
        if staff_id is not None:
            query = query.where(staff_keys.c.staff_id == staff_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(staff_keys.c.issued_at)).all()
        return [
            IssuedKey(
                key_id=r.key_id,
                member=r.member,
                staff_id=r.staff_id,
                attributes=tuple(json.loads(r.attributes)),
                generation=int(r.generation),
                expiry_epoch=int(r.expiry_epoch),
            )
            for r in rows
        ]

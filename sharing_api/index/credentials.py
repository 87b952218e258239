"""What an authority verified about the people it issues RW15 keys to (never on chain):

- ``staff_gids``: the GID (own key address) a member bound to each of its staff when it
  issued their token; one GID per staff id and one staff id per GID within a member.
- ``verified_credentials``: attributes an authority verified for a GID itself, such as the
  regulator's registry of professional titles and licences, each until a day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import insert

from sharing_api.index.schema import staff_gids, verified_credentials


class GidConflict(ValueError):
    """A staff id or GID already bound to someone else."""


@dataclass(frozen=True)
class Credential:
    authority: str
    gid: str
    attribute: str
    valid_until: int  # epoch (day)
    verified_at: float


class CredentialStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    # ---- staff GIDs --------------------------------------------------------------------

    def bind_gid(self, member: str, staff_id: str, gid: str) -> None:
        """Bind ``gid`` to a member's staff id; binding the same pair again changes nothing.
        A staff id keeps its first GID (a new key is a new person to the authority) and a
        GID names one staff id: each conflict is a :class:`GidConflict`."""
        member, gid = member.lower(), gid.lower()
        bound = self.gid_of(member, staff_id)
        if bound == gid:
            return
        if bound is not None:
            raise GidConflict(f"staff member {staff_id} is bound to another GID ({bound})")
        row = {"member": member, "staff_id": staff_id, "gid": gid, "bound_at": self.clock()}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(staff_gids).values(row))
        except IntegrityError:
            raise GidConflict(f"GID {gid} is bound to another staff member") from None

    def gid_of(self, member: str, staff_id: str) -> str | None:
        query = select(staff_gids.c.gid).where(
            staff_gids.c.member == member.lower(), staff_gids.c.staff_id == staff_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else str(row.gid)

    # ---- verified credentials ------------------------------------------------------------

    def verify(self, authority: str, gid: str, attributes: Iterable[str], valid_until: int) -> None:
        """Record (or renew) attributes ``authority`` verified for ``gid``."""
        rows = [
            {
                "authority": authority,
                "gid": gid.lower(),
                "attribute": attribute,
                "valid_until": valid_until,
                "verified_at": self.clock(),
            }
            for attribute in attributes
        ]
        with self.engine.begin() as conn:
            for row in rows:
                conn.execute(
                    delete(verified_credentials).where(
                        verified_credentials.c.authority == authority,
                        verified_credentials.c.gid == row["gid"],
                        verified_credentials.c.attribute == row["attribute"],
                    )
                )
                conn.execute(insert(verified_credentials).values(row))

    def credentials(self, authority: str, gid: str | None = None) -> list[Credential]:
        query = select(verified_credentials).where(verified_credentials.c.authority == authority)
        if gid is not None:
            query = query.where(verified_credentials.c.gid == gid.lower())
        order = (verified_credentials.c.gid, verified_credentials.c.attribute)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(*order)).all()
        return [Credential(**r._mapping) for r in rows]

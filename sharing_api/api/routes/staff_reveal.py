"""The regulator asks a member's gateway who is behind one of its staff pseudonyms.

Only the regulator may ask, and every answer is on the alliance's record first: the gateway
sends ``AllianceRegistry.recordStaffReveal(pseudonym, regulator)`` as the member and answers
only once it is mined (event ``StaffRevealed(member, staff, regulator)``); the gateway's log
names the regulator and the pseudonym too. A member, staff, a patient: 403.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from sharing_api.api.deps import Regulator, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, not_found

router = APIRouter(prefix="/audit", tags=["audit"])
log = logging.getLogger(__name__)

Pseudonym = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]


class StaffRevealOut(BaseModel):
    pseudonym: str
    member: str
    staff_id: str
    role: str
    first_seen: float
    reveal_tx: str  # the transaction that put this reveal on the alliance's record


@router.get(
    "/staff/{pseudonym}",
    responses=PROBLEM_RESPONSES,
    summary="Who a staff pseudonym of a member hosted here stands for (regulator; audited)",
)
def reveal(pseudonym: Pseudonym, regulator: Regulator, services: ServicesDep) -> StaffRevealOut:
    found = services.staff.identity(pseudonym)
    if found is None or not services.hosts(found.member):
        raise not_found(f"no staff pseudonym {pseudonym} issued by this gateway")
    staff = bytes.fromhex(pseudonym.removeprefix("0x"))
    # On chain before the answer: a reveal the alliance cannot see never happens.
    sent = services.signer(found.member).registry.record_staff_reveal(staff, regulator.address)
    services.metrics.chain_writes.labels("staff-reveal").inc()
    log.warning(
        "revealed staff pseudonym %s of %s to regulator %s (tx %s)",
        pseudonym.lower(),
        found.member,
        regulator.address,
        sent.tx_hash,
    )
    return StaffRevealOut(
        pseudonym=found.pseudonym,
        member=found.member,
        staff_id=found.staff_id,
        role=found.role,
        first_seen=found.first_seen,
        reveal_tx=sent.tx_hash,
    )

"""A member attests a patient it has verified (real-name verification, done off chain): only
then does any gateway relay that patient's consents. Members only; on chain the entry names
the patient's address and the member, nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from sharing_api.api.deps import MemberOnly, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/patients", tags=["patients"])

AddressPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


class AttestedOut(BaseModel):
    patient: str
    member: str
    known: bool
    tx_hash: str


@router.post(
    "/{address}/attest",
    responses=PROBLEM_RESPONSES,
    summary="Attest a patient you verified (member only): their consents can then be relayed",
)
def attest(address: AddressPath, member: MemberOnly, services: ServicesDep) -> AttestedOut:
    sent = services.signer(member.member).consents.attest_patient(address)
    services.metrics.chain_writes.labels("attest").inc()
    return AttestedOut(
        patient=address,
        member=member.member,
        known=services.reader.consents.is_known_patient(address),
        tx_hash=sent.tx_hash,
    )

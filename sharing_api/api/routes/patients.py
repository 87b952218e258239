"""The patient's own view (patients only): my records with their custodian's name and date,
and every access to them from the chain's AccessLog, with the reader's name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import require
from sharing_api.api.routes.audit import AccessOut, FreshServices, access_out
from sharing_api.api.routes.members import names
from sharing_api.api.routes.records import PROBLEM_RESPONSES, RecordOut, record_out
from sharing_api.api.services import Services

router = APIRouter(prefix="/patients/me", tags=["patients"])
PatientOnly = Annotated[Principal, Depends(require(Kind.PATIENT))]

# Block timestamps never change once sealed: remember them (keyed by deployment, so test
# alliances in one process do not mix).
_block_times: dict[tuple[str, int], int] = {}


class MyRecordOut(RecordOut):
    custodian_name: str
    timestamp: int  # the registering block's time (unix seconds)


class MyAccessOut(AccessOut):
    reader_name: str
    category: str


def block_time(services: Services, number: int) -> int:
    key = (services.deployment.addresses["RecordRegistry"], number)
    if key not in _block_times:
        block: Any = services.reader.client.w3.eth.get_block(number)
        _block_times[key] = int(block["timestamp"])
    return _block_times[key]


@router.get("/records", responses=PROBLEM_RESPONSES, summary="My records (patient)")
def my_records(principal: PatientOnly, services: FreshServices) -> list[MyRecordOut]:
    named = names(services)
    out = []
    for row in services.index.records(patient=principal.subject):
        base = record_out(row)
        out.append(
            MyRecordOut(
                **base.model_dump(),
                custodian_name=named.get(base.custodian, ""),
                timestamp=block_time(services, base.block_number),
            )
        )
    return out


@router.get(
    "/accesses",
    responses=PROBLEM_RESPONSES,
    summary="Every logged access to my records: who, when, on what basis, for what (patient)",
)
def my_accesses(principal: PatientOnly, services: FreshServices) -> list[MyAccessOut]:
    named = names(services)
    categories = {
        r.record_id: r.category
        for r in map(record_out, services.index.records(patient=principal.subject))
    }
    return [
        MyAccessOut(
            **access_out(row).model_dump(),
            reader_name=named.get(str(row["reader"]), ""),
            category=categories.get(int(row["record_id"]), ""),
        )
        for row in services.index.accesses(patient=principal.subject)
    ]

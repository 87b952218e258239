"""Erasure: a patient's request at the custodian deletes the record's ciphertext (its header
with it: crypto-shredding) and marks the record erased on chain (``RecordErased``, which
names the record and custodian only), so no access can be logged for it and every index,
the console and the wallet show it as erased. Every version of the record goes together."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import PatientOrMember, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden
from sharing_api.api.lookups import find_record
from sharing_api.api.schemas import IdPath, RecordOut, record_out
from sharing_api.api.services import Services

router = APIRouter(prefix="/records", tags=["records"])
MAX_VERSIONS = 1_000  # a version chain longer than this is not a patient's record


@router.post(
    "/{record_id}/erase",
    responses=PROBLEM_RESPONSES,
    summary="Erase a record and its versions (the patient, or the custodian on their behalf)",
)
def erase(record_id: IdPath, principal: PatientOrMember, services: ServicesDep) -> list[RecordOut]:
    row = find_record(services, record_id)
    _check_may_erase(principal, row)
    if not services.hosts(row["custodian"]):
        raise ApiError(
            409,
            f"record {record_id} is held by {row['custodian']}: ask for its erasure at that "
            "member's gateway (GET /members names it)",
        )
    versions = _versions(services, row)
    pending = [int(v["record_id"]) for v in versions if not v["erased"]]
    if pending:  # first on chain: from then on no access can be logged for them
        services.signer(row["custodian"]).records.erase(pending)
        services.metrics.chain_writes.labels("erasure").inc()
    for version in versions:  # then the ciphertext (again, if an earlier attempt failed)
        if not _cid_still_needed(services, version):
            services.storage.delete(str(version["cid"]))
    services.indexer.sync()  # marks them erased here too: fixed_record refuses them from then
    return [record_out(find_record(services, int(v["record_id"]))) for v in versions]


def _check_may_erase(principal: Principal, row: dict[str, Any]) -> None:
    if principal.kind is Kind.PATIENT and principal.owns(row["patient"]):
        return
    if principal.kind is Kind.MEMBER and row["custodian"] == principal.member.lower():
        return  # the custodian honouring a request the patient made to it directly
    raise forbidden("only the record's patient, or its custodian, may erase it")


def _versions(services: Services, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every version of the record, oldest first: its predecessors and successors."""
    first, steps = row, 0
    while int(first["supersedes"]) and steps < MAX_VERSIONS:
        first, steps = find_record(services, int(first["supersedes"])), steps + 1
    chain = [first]
    while int(chain[-1]["superseded_by"]) and len(chain) < MAX_VERSIONS:
        chain.append(find_record(services, int(chain[-1]["superseded_by"])))
    return chain


def _cid_still_needed(services: Services, version: dict[str, Any]) -> bool:
    """Whether a record that is not erased names the same ciphertext (identical bytes
    uploaded twice share one blob)."""
    others = services.index.records_by_cid(str(version["cid"]))
    return any(not r["erased"] and int(r["record_id"]) != int(version["record_id"]) for r in others)

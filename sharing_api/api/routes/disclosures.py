"""The regulator checks a patient's pseudonym disclosure at its gateway (the console's
"disclosed patient" view; the CLI's is ``alliance audit disclosed``).

Linking pseudonyms is what the chain withholds, so only the regulator the disclosure names
may use it, and every use is logged in the gateway's state directory
(``audit/disclosures.log``: when, which addresses, the document's digest, the counts).
The answer comes in pages of ``limit`` records and accesses; ``next_record_after`` and
``next_access_after`` continue them (with the same disclosure posted again).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from sharing_api.api.deps import FreshServices, Regulator
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError
from sharing_api.api.schemas import AccessOut, RecordOut, access_out, record_out
from sharing_api.audit.disclosed_cli import log_use
from sharing_api.patient.disclosure import DisclosureError, verify_disclosure

router = APIRouter(prefix="/audit", tags=["audit"])

# A disclosure of 64 addresses with their signatures is about 12 KB.
MAX_DISCLOSURE_BYTES = 32 * 1024


MAX_PAGE = 10_000
Cursor = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="from a `next_*` field")]


class DisclosedOut(BaseModel):
    addresses: list[str]
    records: list[RecordOut]
    accesses: list[AccessOut]
    next_record_after: int | None = None  # more records: post again with after_record=this
    next_access_after: int | None = None


@router.post(
    "/disclosed",
    responses=PROBLEM_RESPONSES,
    summary="Verify a patient's pseudonym disclosure; their records and accesses across all",
)
async def disclosed(
    request: Request,
    principal: Regulator,
    services: FreshServices,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    after_record: Cursor = None,
    after_access: Cursor = None,
) -> DisclosedOut:
    raw = b""
    async for chunk in request.stream():  # stop at the bound: never buffer a huge body
        raw += chunk
        if len(raw) > MAX_DISCLOSURE_BYTES:
            raise ApiError(413, f"a disclosure is at most {MAX_DISCLOSURE_BYTES} bytes")
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        raise ApiError(400, "the disclosure is not JSON") from None
    try:
        addresses = verify_disclosure(
            doc, regulator=principal.subject, chain_id=services.deployment.chain_id
        )
    except DisclosureError as exc:
        raise ApiError(400, str(exc)) from None

    def gather() -> DisclosedOut:
        # One more than a page: is there more?
        records = services.index.records(patient=addresses, limit=limit + 1, after=after_record)
        accesses = services.index.accesses(patient=addresses, limit=limit + 1, after=after_access)
        more_records, more_accesses = len(records) > limit, len(accesses) > limit
        records, accesses = records[:limit], accesses[:limit]
        log_use(
            principal.subject,
            addresses,
            hashlib.sha256(raw).hexdigest(),
            {"records": len(records), "accesses": len(accesses)},
            services.settings.resolved_state_dir() / "audit",
        )
        return DisclosedOut(
            addresses=addresses,
            records=[record_out(r) for r in records],
            accesses=[access_out(a) for a in accesses],
            next_record_after=int(records[-1]["record_id"]) if more_records else None,
            next_access_after=int(accesses[-1]["access_id"]) if more_accesses else None,
        )

    return await run_in_threadpool(gather)

"""Gateway to gateway: a custodian serves a record's ciphertext to another member's gateway.

No bearer token: the calling member signs the request with its ledger key
(``gateway/fetch_auth.py``), over TLS pinned to this gateway's registered certificate. The
custodian serves only against an access the reader logged on chain itself, naming that
reader and record, mined within the last ``access_window_blocks`` blocks, and never served
before. It logs nothing on chain: the read is the reader's, in the reader's name.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from sharing_api.api.deps import ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.lookups import fixed_record, read_head
from sharing_api.api.schemas import IdPath
from sharing_api.api.services import Services
from sharing_api.gateway.fetch_auth import FetchAuthError, FetchRequest, verify_fetch
from sharing_api.storage.errors import NotFoundError

router = APIRouter(prefix="/gateway", tags=["gateway"])
LAG_WAIT_S = 3.0  # our node may be a few blocks behind the reader's: wait that long for it


def _logged_access(services: Services, request: FetchRequest) -> bool:
    """Whether the chain holds the access (id, record, reader) within the window; waits a
    little for this gateway's node to catch up with the reader's."""
    window = services.settings.access_window_blocks
    deadline = time.monotonic() + LAG_WAIT_S
    fast = services.fast  # raw JSON-RPC: web3's log decoding was most of this route's CPU
    while True:
        head = fast.block_number()
        found = fast.logged_access(
            request.access_id, request.record_id, request.reader, max(0, head - window), head
        )
        if found is not None:
            return found.logger == request.reader.lower()
        # Only an access our node has not seen yet is worth waiting for.
        if request.access_id <= fast.access_count():
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@router.get(
    "/records/{record_id}/ciphertext",
    responses=PROBLEM_RESPONSES,
    response_class=StreamingResponse,
    summary="A record's ciphertext for the reader member's gateway (signed request)",
)
async def ciphertext(record_id: IdPath, request: Request, services: ServicesDep) -> Response:
    def check() -> tuple[list[bytes], int, Iterator[bytes] | None]:
        try:
            fetch = verify_fetch(request.headers, record_id)
        except FetchAuthError as exc:
            raise ApiError(401, str(exc), "Unauthorized") from None
        if not services.hosts(fetch.custodian):
            raise not_found(f"{fetch.custodian} is not a member hosted by this gateway")
        row = fixed_record(services, record_id)
        if row["custodian"] != fetch.custodian.lower():
            raise not_found(f"record {record_id} is not in the custody of {fetch.custodian}")
        if not services.is_member(fetch.reader):
            raise forbidden(f"{fetch.reader} is not a member of the alliance")
        if not _logged_access(services, fetch):
            raise forbidden(
                f"no access {fetch.access_id} by {fetch.reader} to record {record_id} is "
                f"logged on chain within the last {services.settings.access_window_blocks} blocks"
            )
        if not services.served.claim(fetch.access_id, record_id, fetch.reader):
            raise ApiError(409, f"access {fetch.access_id} has been served already", "Conflict")
        try:
            return read_head(services, row)
        except NotFoundError:
            raise ApiError(404, f"ciphertext of record {record_id} is missing") from None

    head, size, rest = await run_in_threadpool(check)
    services.metrics.bytes_out.inc(size)
    headers = {"X-Record-Id": str(record_id)}
    if rest is None:  # a small record in one piece: a stream costs a thread hop per chunk
        return Response(b"".join(head), media_type="application/octet-stream", headers=headers)

    def stream() -> Iterator[bytes]:
        yield from head
        for chunk in rest:
            services.metrics.bytes_out.inc(len(chunk))
            yield chunk

    return StreamingResponse(stream(), media_type="application/octet-stream", headers=headers)

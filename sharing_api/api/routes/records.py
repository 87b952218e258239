"""Records: upload ciphertext, metadata, content (consent-checked and logged), list, supersede."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from crypto.header import RecordHeader
from crypto.policy import parse_policy, to_text
from crypto.policy_commitment import policy_commitment
from sharing_api.api.access import Grant, decide, log_access, readable_by
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.deps import Anyone, CareProvider, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden
from sharing_api.api.lookups import (
    INLINE_BYTES,
    find_record,
    fixed_record,
    patient_scope,
    read_head,
)
from sharing_api.api.paging import PAGED, PageDep
from sharing_api.api.schemas import IdPath, IdQuery, RecordOut, record_out
from sharing_api.api.services import Services
from sharing_api.api.upload import spool_body
from sharing_api.chain import Category, Purpose
from sharing_api.gateway.peers import PeerError
from sharing_api.storage.errors import NotFoundError

router = APIRouter(prefix="/records", tags=["records"])

Address = Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
Sha256Query = Annotated[str | None, Query(alias="sha256", pattern=r"^[0-9a-fA-F]{64}$")]
# Optional: the header's policy is what is registered (as a commitment); if given, it must match.
PolicyQuery = Annotated[str | None, Query(min_length=1, max_length=4096)]


def _check_policy(policy: str | None, header: RecordHeader) -> None:
    """A ``policy`` given beside the body must be the one sealed in its header (the header's
    is what counts: the chain gets its commitment)."""
    if policy is None:
        return
    if to_text(parse_policy(policy)) != header.policy:  # PolicyError (a ValueError) -> 400
        raise ApiError(
            400,
            f"the policy given ({policy!r}) is not the one sealed in the record's header "
            f"({header.policy!r}); leave it out: the header's policy is what is registered",
        )


async def _store_and_register(
    request: Request,
    services: Services,
    principal: Principal,
    sha256: str | None,
    policy: str | None,
    register: Any,
) -> RecordOut:
    signer = services.signer(principal.member)
    limits = services.limits
    await run_in_threadpool(limits.hit, "upload_per_uploader", principal.subject, 1, "uploads")
    body = await spool_body(request, services.settings.max_upload_bytes, sha256)
    try:
        _check_policy(policy, body.header)
    except BaseException:
        body.file.close()
        raise
    try:  # the member's byte quota, charged with what actually arrived
        await run_in_threadpool(
            limits.hit, "upload_bytes_per_member", principal.member, body.size, "upload bytes"
        )
    except BaseException:
        body.file.close()
        raise
    try:
        info = await run_in_threadpool(services.storage.put, body.file)
    finally:
        body.file.close()
    services.metrics.bytes_in.inc(body.size)
    try:
        commitment = policy_commitment(body.header)
        record_id = await run_in_threadpool(register, signer, info.cid, body.sha256, commitment)
    except BaseException:
        # Nothing on chain: take the blob back out unless another record already names it.
        if not services.index.records_by_cid(info.cid):
            await run_in_threadpool(services.storage.delete, info.cid)
        raise
    services.metrics.chain_writes.labels("record").inc()
    await run_in_threadpool(services.indexer.sync)
    header = body.header
    await run_in_threadpool(services.index.set_policy, record_id, header.policy, header.labels)
    return record_out(find_record(services, record_id))


@router.post(
    "",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Upload a record's ciphertext (streamed body) and register it on chain",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}}},
)
async def upload(
    request: Request,
    principal: CareProvider,
    services: ServicesDep,
    patient: Address,
    category: Annotated[str, Query(max_length=32)],
    policy: PolicyQuery = None,
    sha256: Sha256Query = None,
) -> RecordOut:
    cat = Category.parse(category)

    def register(signer: Any, cid: str, digest: bytes, commitment: bytes) -> int:
        return int(signer.records.register(patient, cat, cid, digest, commitment).record_id)

    return await _store_and_register(request, services, principal, sha256, policy, register)


@router.post(
    "/{record_id}/supersede",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Upload a new version of a record (custodian only); the old one is superseded",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}}},
)
async def supersede(
    record_id: IdPath,
    request: Request,
    principal: CareProvider,
    services: ServicesDep,
    policy: PolicyQuery = None,
    sha256: Sha256Query = None,
) -> RecordOut:
    old = await run_in_threadpool(find_record, services, record_id)
    if old["custodian"] != principal.member.lower():
        raise forbidden(f"record {record_id} is in the custody of {old['custodian']}")

    def register(signer: Any, cid: str, digest: bytes, commitment: bytes) -> int:
        return int(signer.records.supersede(record_id, cid, digest, commitment).record_id)

    return await _store_and_register(request, services, principal, sha256, policy, register)


@router.get("/{record_id}", responses=PROBLEM_RESPONSES, summary="A record's metadata")
def metadata(record_id: IdPath, principal: Anyone, services: ServicesDep) -> RecordOut:
    row = find_record(services, record_id)
    if principal.kind is Kind.PATIENT and not principal.owns(row["patient"]):
        raise forbidden("patients see their own records only")
    return record_out(row)


@router.get(
    "", responses={**PROBLEM_RESPONSES, **PAGED}, summary="List records (from the index), paged"
)
def list_records(
    principal: Anyone,
    services: ServicesDep,
    page: PageDep,
    patient: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    custodian: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[RecordOut]:
    patients: str | tuple[str, ...] | None = patient
    if principal.kind is Kind.PATIENT:  # every one of the patient's pseudonyms, one cursor
        patients = patient_scope(principal, patient, "records")
    # The page is cut before the member filter: the cursor moves past rows left out too.
    found = services.index.records(
        patient=patients, custodian=custodian, after=page.cursor, limit=page.fetch
    )
    rows = page.take(found, "record_id")
    if principal.kind in (Kind.MEMBER, Kind.STAFF):
        rows = readable_by(services, principal.member, rows)
    return [record_out(r) for r in rows]


@router.get(
    "/{record_id}/content",
    responses=PROBLEM_RESPONSES,
    response_class=StreamingResponse,
    summary="The ciphertext, after the access is checked and logged on chain",
)
async def content(
    record_id: IdPath,
    principal: CareProvider,
    services: ServicesDep,
    purpose: Annotated[str, Query(max_length=32)] = "treatment",
    referral_id: IdQuery = None,
    consultation_id: IdQuery = None,
    break_glass: bool = False,
    reason: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    signer = services.signer(principal.member)  # 403 early if we cannot log for this member
    wanted = Purpose.parse(purpose)

    def check() -> tuple[dict[str, Any], Grant, list[bytes], int, Iterator[bytes] | None]:
        row = fixed_record(services, record_id)
        grant = decide(
            services, principal, row, wanted, referral_id, break_glass, reason, consultation_id
        )
        if not services.hosts(row["custodian"]):
            return row, grant, [], 0, None  # another member's gateway holds the ciphertext
        try:  # read (and verify) before logging; nothing leaves until the access is mined
            head, size, rest = read_head(services, row)
        except NotFoundError:
            raise ApiError(
                404, f"ciphertext of record {record_id} is missing from storage"
            ) from None
        return row, grant, head, size, rest

    # The checks block on the chain and storage (a worker thread); waiting for the access to
    # be mined holds no thread (a coroutine), and a small record then goes out from here.
    row, grant, head, size, rest = await run_in_threadpool(check)
    try:
        access_id = await log_access(services, principal, record_id, grant)
    except BaseException:
        close = getattr(rest, "close", None)
        if close is not None:
            close()
        raise
    headers = {"X-Access-Id": str(access_id), "X-Record-Id": str(record_id)}
    superseded_by = services.indexer.superseded.get(record_id, 0)
    if superseded_by:  # still readable, but tell the reader a newer one exists
        headers["X-Superseded-By"] = str(superseded_by)
    if not services.hosts(row["custodian"]):
        got, more = await _from_custodian(services, signer.client.account, row, access_id)
        if more is None:  # all of it, hash-checked: one piece, like a local small record
            return Response(got, media_type="application/octet-stream", headers=headers)
        return StreamingResponse(more, media_type="application/octet-stream", headers=headers)
    if rest is None:  # small records (most FHIR documents) go out in one piece
        services.metrics.bytes_out.inc(size)
        return Response(b"".join(head), media_type="application/octet-stream", headers=headers)

    def stream() -> Iterator[bytes]:  # large ones stream, chunk by verified chunk
        yield from head
        services.metrics.bytes_out.inc(size)
        for chunk in rest:
            services.metrics.bytes_out.inc(len(chunk))
            yield chunk

    return StreamingResponse(stream(), media_type="application/octet-stream", headers=headers)


async def _from_custodian(
    services: Services, reader: LocalAccount, row: dict[str, Any], access_id: int
) -> tuple[bytes, Iterator[bytes] | None]:
    """The ciphertext from the custodian's gateway, against the access just logged: the
    whole of a small record (hash-checked), else the first INLINE_BYTES and the rest as a
    verified stream. A refusal, an unreachable custodian, or a small record whose bytes do
    not match the chain is one clear error before the first byte."""

    def fetch_head() -> tuple[list[bytes], Iterator[bytes] | None]:
        # One worker-thread hop for a small record: streaming it cost a hop per chunk.
        chunks = services.peers.fetch(
            row["custodian"],
            int(row["record_id"]),
            access_id,
            reader,
            row["content_hash"].removeprefix("0x"),
        )
        head: list[bytes] = []
        size = 0
        for chunk in chunks:
            head.append(chunk)
            size += len(chunk)
            if size >= INLINE_BYTES:
                return head, chunks
        return head, None

    try:
        head, rest = await run_in_threadpool(fetch_head)
    except PeerError as exc:
        status = exc.status if exc.status in (403, 404, 409) else 502
        raise ApiError(status, f"access {access_id} is logged, but {exc.detail}") from None
    got = b"".join(head)
    services.metrics.bytes_out.inc(len(got))
    if rest is None:
        return got, None

    def counted() -> Iterator[bytes]:
        yield got
        for chunk in rest:
            services.metrics.bytes_out.inc(len(chunk))
            yield chunk

    return b"", counted()

"""Receiving a ciphertext: spool the streamed request body, bounded, hashing as it comes, and
refuse anything that is not a sealed record container."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from starlette.requests import Request

from crypto.errors import FormatError
from crypto.header import RecordHeader
from crypto.records import read_container_header
from sharing_api.api.errors import ApiError

SPOOL_IN_MEMORY = 1024 * 1024


@dataclass
class Spooled:
    file: IO[bytes]
    size: int
    sha256: bytes
    header: RecordHeader  # the sealed header, parsed and checked


async def spool_body(request: Request, limit: int, expected_sha256: str | None) -> Spooled:
    """The body in a temp file (memory up to 1 MiB); 413 past ``limit`` (checked on the
    declared length first, then on the bytes actually received), 400 when the body's SHA-256
    differs from ``expected_sha256`` (the ``sha256`` query parameter the SDK sends) or when it
    is not a sealed record container."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"upload of {declared} bytes exceeds the limit of {limit} bytes")
    digest = hashlib.sha256()
    size = 0
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"upload exceeds the limit of {limit} bytes")
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise ApiError(400, "empty upload: send the record's ciphertext as the body")
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256.lower():
            raise ApiError(
                400,
                f"the body's SHA-256 is {digest.hexdigest()}, not the {expected_sha256.lower()} "
                "given in the `sha256` query parameter",
            )
        spool.seek(0)
        header = check_sealed(spool)
    except BaseException:
        spool.close()
        raise
    return Spooled(spool, size, digest.digest(), header)


def check_sealed(spool: IO[bytes]) -> RecordHeader:
    """The body must be what the SDK writes: "ALRC", a version, and a record header that
    parses strictly (group elements length- and subgroup-checked). Plaintext sent by mistake
    is refused before anything is stored. The stream position is left at the start."""
    try:
        return read_container_header(cast(BinaryIO, spool))
    except FormatError as exc:
        raise ApiError(
            400,
            f"the body is not a sealed record container ({exc}): encrypt the record with "
            "the SDK (SharingClient.seal) and upload the container it returns",
        ) from None
    finally:
        spool.seek(0)

"""Reading a source once: exact 256 KiB chunks, CID + SHA-256 as they pass, the size limit.

``Hasher`` is shared by every backend's ``put``. ``spooled`` is for backends that must know
the CID before they upload (IPFS compares its answer, S3 keys objects by CID) or that need a
rewindable copy: a seekable regular file is hashed in place, any other stream is copied to a
temp file first, so memory stays constant and an over-size stream is refused before any
byte reaches the backend.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sharing_api.storage.base import BlobInfo, Source
from sharing_api.storage.errors import OverSizeError
from sharing_api.storage.hashing import BackgroundSha256
from sharing_api.storage.unixfs import CHUNK_SIZE, DagBuilder, DagResult


def iter_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Exact ``size``-byte chunks (the last may be shorter), even from pipes/sockets."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        while len(chunk) < size:
            more = stream.read(size - len(chunk))
            if not more:
                break
            chunk += more
        yield chunk
        if len(chunk) < size:
            return


def as_stream(source: Source) -> IO[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    return source


def known_size(stream: IO[bytes]) -> int | None:
    """Remaining bytes of a regular file, else None (pipes, sockets, unknown)."""
    try:
        st = os.fstat(stream.fileno())
        if stat.S_ISREG(st.st_mode):
            return st.st_size - stream.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    if isinstance(stream, io.BytesIO):
        return len(stream.getbuffer()) - stream.tell()
    return None


def check_limit(stream: IO[bytes], max_size: int | None) -> None:
    """Refuse up front when the size is known (nothing read, nothing stored)."""
    size = known_size(stream)
    if max_size is not None and size is not None and size > max_size:
        raise OverSizeError(max_size)


class Hasher:
    """CID and SHA-256 of bytes fed in exact chunks; enforces the size limit as they pass."""

    def __init__(self, cid_version: int, max_size: int | None) -> None:
        self.dag = DagBuilder(cid_version)
        self.sha = BackgroundSha256()
        self.size = 0
        self.max_size = max_size

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_size is not None and self.size > self.max_size:
            raise OverSizeError(self.max_size)
        self.sha.update(chunk)
        self.dag.add_chunk(chunk)

    def close(self) -> None:
        self.sha.close()

    def finish(self) -> tuple[BlobInfo, DagResult]:
        result = self.dag.finish()
        return BlobInfo(str(result.cid), self.sha.hexdigest(), self.size), result


@dataclass
class Spooled:
    stream: IO[bytes]  # positioned at the start of the bytes
    info: BlobInfo
    dag: DagResult


@contextmanager
def spooled(
    source: Source, cid_version: int, max_size: int | None, tmp_dir: Path | None = None
) -> Iterator[Spooled]:
    """Hash ``source``, copying it to a temp file unless it is a regular file at offset 0."""
    stream = as_stream(source)
    check_limit(stream, max_size)
    hasher = Hasher(cid_version, max_size)
    # In place only from the start of a regular file: upload clients size the body by the
    # whole file (httpx, s3transfer), so a file positioned elsewhere is copied instead.
    if known_size(stream) is not None and stream.seekable() and stream.tell() == 0:
        start = 0
        try:
            for chunk in iter_chunks(stream):
                hasher.update(chunk)
            info, dag = hasher.finish()
        finally:
            hasher.close()
        stream.seek(start)
        yield Spooled(stream, info, dag)
        return
    with tempfile.TemporaryFile(dir=tmp_dir) as spool:
        try:
            for chunk in iter_chunks(stream):
                hasher.update(chunk)
                spool.write(chunk)
            info, dag = hasher.finish()
        finally:
            hasher.close()
        spool.seek(0)
        yield Spooled(spool, info, dag)

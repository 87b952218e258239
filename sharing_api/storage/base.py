"""The `Storage` interface every backend implements (local CAS, IPFS, S3, replicated).

Blobs are addressed by a Kubo-compatible CID computed locally (see ``unixfs``). ``get``
returns an iterator of chunks that have each been verified against the CID before they are
yielded; the final chunk is held back until the size and SHA-256 have been checked too, so
a consumer that reaches the end without an exception has received exactly the bytes the CID
names. Deleting a blob is how a patient's erasure request is honoured (crypto-shredding:
the ciphertext and its header go, and with them any way to read the record).
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sharing_api.storage.errors import NotFoundError

# What `put` accepts: bytes, or a binary file object open for reading (streamed).
Source = bytes | IO[bytes]


@dataclass(frozen=True)
class BlobInfo:
    cid: str
    sha256: str | None  # hex digest; None where the backend records none (IPFS)
    size: int


class Storage(ABC):
    """A content-addressed blob store. Errors: see ``sharing_api.storage.errors``."""

    name: str = "storage"

    @abstractmethod
    def put(self, source: Source) -> BlobInfo:
        """Store the bytes (streamed, constant memory) and return their CID, SHA-256, size.

        Over the size limit: OverSizeError, and nothing is stored.
        """

    @abstractmethod
    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        """Open the blob: raises NotFoundError now if it is absent; the iterator yields only
        verified chunks and raises IntegrityError (naming the CID) on any mismatch."""

    @abstractmethod
    def stat(self, cid: str) -> BlobInfo:
        """CID, SHA-256 (if recorded) and size, without reading the blob."""

    @abstractmethod
    def delete(self, cid: str) -> bool:
        """Remove (or unpin) the blob; True if it was there. Idempotent."""

    def cids(self) -> Iterator[str]:
        """Every blob's CID (in no particular order): what a restore copies from a backup."""
        raise NotImplementedError(f"the {self.name} backend cannot list its blobs")

    def has(self, cid: str) -> bool:
        try:
            self.stat(cid)
        except NotFoundError:
            return False
        return True

    def get_bytes(self, cid: str, expected_sha256: str | None = None) -> bytes:
        """Whole blob in memory: for small blobs only."""
        return b"".join(self.get(cid, expected_sha256))

    def get_to_file(self, cid: str, path: Path, expected_sha256: str | None = None) -> int:
        """Stream the blob to ``path``; the file appears only once every byte verified."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.get(cid, expected_sha256):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections."""

"""Writes to every replica, reads from whichever is healthy.

Typical use: the hospital's local store plus an off-site IPFS or S3 copy for disaster
recovery. ``put`` succeeds only when every replica holds the blob under the same CID (an
acknowledged record must survive the loss of one site). Reads try the replicas in order;
if one is down, misses the blob, or serves bad bytes, the next one is used, also in the
middle of a stream: the bytes already handed out (all verified) are skipped on the next
replica, which verifies the whole blob again from the start.

Backups (an alliance backup centre, or any copy that must never serve members) are written
like replicas and erased like replicas, but never read: ``get``/``stat``/``has`` consult the
primary replicas only, so a blob missing from them is a NotFoundError even when a backup
holds it. Bringing it back is an explicit, verified restore (``restore.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import (
    BackendUnavailableError,
    IntegrityError,
    NotFoundError,
    StorageError,
)
from sharing_api.storage.ingest import spooled


class ReplicatedStorage(Storage):
    name = "replicated"

    def __init__(
        self,
        replicas: Sequence[Storage],
        *,
        backups: Sequence[Storage] = (),
        max_size: int | None = None,
        cid_version: int = 0,
    ) -> None:
        if not replicas or len(replicas) + len(backups) < 2:
            raise ValueError("a replicated store needs at least two replicas (or one and a backup)")
        self.replicas = list(replicas)
        self.backups = list(backups)
        self.max_size = max_size
        self.cid_version = cid_version
        self.failovers = 0  # reads that had to move to another replica (for monitoring)

    def put(self, source: Source) -> BlobInfo:
        # Hash once up front (refusing an over-size blob before any replica sees it), then
        # feed every replica the same rewindable bytes.
        with spooled(source, self.cid_version, self.max_size) as spool:
            start = spool.stream.tell()
            for replica in [*self.replicas, *self.backups]:
                spool.stream.seek(start)
                info = replica.put(spool.stream)
                if info.cid != spool.info.cid:
                    raise IntegrityError(
                        spool.info.cid, f"replica {replica.name} stored it as {info.cid}"
                    )
            return spool.info

    def stat(self, cid: str) -> BlobInfo:
        errors: list[StorageError] = []
        for replica in self.replicas:
            try:
                info = replica.stat(cid)
            except (NotFoundError, BackendUnavailableError) as exc:
                errors.append(exc)
                continue
            if info.sha256 is None:  # e.g. IPFS records none: ask the others for it
                for other in self.replicas:
                    if other is not replica:
                        try:
                            found = other.stat(cid).sha256
                        except (NotFoundError, BackendUnavailableError):
                            continue
                        if found is not None:
                            return BlobInfo(cid, found, info.size)
            return info
        raise self._all_failed(cid, errors)

    def _all_failed(self, cid: str, errors: Sequence[StorageError]) -> StorageError:
        if errors and all(isinstance(e, NotFoundError) for e in errors):
            if self.backups:  # say why the backup's copy is not used, and what to do
                return NotFoundError(
                    cid,
                    f"{self.name} (primary replicas; the backup serves no reads: "
                    "`alliance storage restore` brings blobs back from it)",
                )
            return NotFoundError(cid, self.name)
        detail = "; ".join(str(e) for e in errors)
        if any(isinstance(e, IntegrityError) for e in errors):
            return IntegrityError(cid, f"no replica served verified bytes: {detail}")
        return BackendUnavailableError(self.name, f"every replica failed: {detail}")

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        errors: list[StorageError] = []
        for index, replica in enumerate(self.replicas):
            try:
                first = replica.get(cid, expected_sha256)
            except (NotFoundError, BackendUnavailableError, IntegrityError) as exc:
                errors.append(exc)
                self.failovers += 1
                continue
            return self._stream(cid, expected_sha256, index, first, errors)
        raise self._all_failed(cid, errors)

    def _stream(
        self,
        cid: str,
        expected_sha256: str | None,
        index: int,
        chunks: Iterator[bytes],
        errors: list[StorageError],
    ) -> Iterator[bytes]:
        delivered = 0
        while True:
            skip = delivered
            try:
                for chunk in chunks:
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    piece = chunk[skip:] if skip else chunk
                    skip = 0
                    delivered += len(piece)
                    yield piece
                return
            except (BackendUnavailableError, IntegrityError) as exc:
                errors.append(exc)
                self.failovers += 1
            # Fail over to the next replica that can open the blob.
            while True:
                index += 1
                if index >= len(self.replicas):
                    raise self._all_failed(cid, errors)
                try:
                    chunks = self.replicas[index].get(cid, expected_sha256)
                    break
                except (NotFoundError, BackendUnavailableError, IntegrityError) as exc:
                    errors.append(exc)

    def delete(self, cid: str) -> bool:
        # Erasure must reach every copy: a replica that is down makes this fail loudly.
        found = False
        for replica in [*self.replicas, *self.backups]:
            found = replica.delete(cid) or found
        return found

    def cids(self) -> Iterator[str]:
        """The blobs the primary replicas hold (a backup's own list: ``backups[i].cids()``)."""
        seen: set[str] = set()
        for replica in self.replicas:
            for cid in replica.cids():
                if cid not in seen:
                    seen.add(cid)
                    yield cid

    def close(self) -> None:
        for replica in [*self.replicas, *self.backups]:
            replica.close()

"""The embedded default: a content-addressed store in a directory.

Layout: ``ROOT/blobs/<2 chars of the CID>/<CID>`` holds the bytes as they are (so the file
can be served or inspected directly) and ``<CID>.dag`` the manifest (SHA-256, size, inner
DAG nodes). Writes go to a unique temp file under ``ROOT/tmp``, are fsynced and renamed into
place, manifest first and data last: the data file's presence is the commit point. Two
writers of the same bytes produce the same files, so whichever rename wins is correct;
readers see either nothing or a complete blob, and an open reader keeps reading a blob
deleted under it (POSIX unlink semantics).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import IntegrityError, NotFoundError
from sharing_api.storage.ingest import Hasher, as_stream, check_limit, iter_chunks
from sharing_api.storage.manifest import Manifest
from sharing_api.storage.unixfs import CHUNK_SIZE, CID
from sharing_api.storage.verify import verified_chunks


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: Path, *, max_size: int | None = None, cid_version: int = 0) -> None:
        self.root = Path(root)
        self.max_size = max_size
        self.cid_version = cid_version
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _paths(self, cid: str) -> tuple[Path, Path]:
        CID.parse(cid)  # refuse anything that is not a CID before it touches a path
        shard = self._blobs / cid[-3:-1]
        return shard / cid, shard / f"{cid}.dag"

    def put(self, source: Source) -> BlobInfo:
        stream = as_stream(source)
        check_limit(stream, self.max_size)
        hasher = Hasher(self.cid_version, self.max_size)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_chunks(stream):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            info, dag = hasher.finish()
            data_path, dag_path = self._paths(info.cid)
            data_path.parent.mkdir(exist_ok=True)
            self._write_atomic(dag_path, Manifest(info, dag.inner).encode())
            os.replace(tmp, data_path)
            _fsync_dir(data_path.parent)
        finally:
            hasher.close()
            tmp.unlink(missing_ok=True)
        return info

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="dag-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _manifest(self, cid: str) -> Manifest:
        _, dag_path = self._paths(cid)
        try:
            raw = dag_path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(cid, self.name) from None
        try:
            return Manifest.decode(raw, cid)
        except (ValueError, KeyError) as exc:
            raise IntegrityError(cid, f"unreadable manifest ({exc})") from None

    def stat(self, cid: str) -> BlobInfo:
        data_path, _ = self._paths(cid)
        if not data_path.exists():
            raise NotFoundError(cid, self.name)
        return self._manifest(cid).info

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        data_path, _ = self._paths(cid)
        try:
            handle = data_path.open("rb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(cid, self.name) from None
        try:
            manifest = self._manifest(cid)
        except BaseException:
            handle.close()
            raise
        if expected_sha256 is not None and manifest.info.sha256 != expected_sha256.lower():
            handle.close()
            raise IntegrityError(cid, "SHA-256 differs from the expected digest")
        return _closing(
            handle,
            verified_chunks(
                cid,
                lambda c: manifest.inner.get(str(c)),
                iter_chunks(handle, CHUNK_SIZE),
                manifest.info.size,
                manifest.info.sha256,
            ),
        )

    def delete(self, cid: str) -> bool:
        data_path, dag_path = self._paths(cid)
        existed = data_path.exists()
        data_path.unlink(missing_ok=True)  # data first: without it the blob is gone
        dag_path.unlink(missing_ok=True)
        if existed:
            _fsync_dir(data_path.parent)
        return existed


def _closing(handle: object, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Yield from ``chunks`` and close ``handle`` however the consumer stops."""
    try:
        yield from chunks
    finally:
        close = getattr(handle, "close", None)
        if close is not None:
            close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

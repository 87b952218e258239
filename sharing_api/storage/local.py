"""The embedded default: a content-addressed store in a directory.

Layout: one file per blob, ``ROOT/blobs/<2 chars of the CID>/<CID>``, holding the bytes as
they are, then the manifest (SHA-256, size, inner DAG nodes; see ``manifest``), then a
16-byte trailer (manifest length, magic). One file means one fsync and one atomic rename
per put: a write goes to a unique temp file under ``ROOT/tmp``, is fsynced and renamed into
place, then the directory is fsynced. Two writers of the same bytes produce the same file,
so whichever rename wins is correct; readers see either nothing or a complete blob, and an
open reader keeps reading a blob deleted under it (POSIX unlink semantics).
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import IntegrityError, NotFoundError
from sharing_api.storage.ingest import Hasher, as_stream, check_limit, iter_chunks
from sharing_api.storage.manifest import Manifest
from sharing_api.storage.unixfs import CHUNK_SIZE, CID
from sharing_api.storage.verify import verified_chunks

_TRAILER = struct.Struct(">Q8s")
_MAGIC = b"alcas/1\n"


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

    def _path(self, cid: str) -> Path:
        CID.parse(cid)  # refuse anything that is not a CID before it touches a path
        return self._blobs / cid[-3:-1] / cid

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
                info, dag = hasher.finish()
                manifest = Manifest(info, dag.inner).encode()
                out.write(manifest)
                out.write(_TRAILER.pack(len(manifest), _MAGIC))
                out.flush()
                os.fsync(out.fileno())
            path = self._path(info.cid)
            path.parent.mkdir(exist_ok=True)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        finally:
            hasher.close()
            tmp.unlink(missing_ok=True)
        return info

    def _open(self, cid: str) -> tuple[BinaryIO, Manifest]:
        """Open the blob file and read its manifest; the handle is left at the data."""
        try:
            handle = self._path(cid).open("rb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(cid, self.name) from None
        try:
            end = handle.seek(0, os.SEEK_END)
            if end < _TRAILER.size:
                raise ValueError("file shorter than its trailer")
            handle.seek(end - _TRAILER.size)
            length, magic = _TRAILER.unpack(handle.read(_TRAILER.size))
            start = end - _TRAILER.size - length
            if magic != _MAGIC or start < 0:
                raise ValueError("bad trailer")
            handle.seek(start)
            manifest = Manifest.decode(handle.read(length), cid)
            if manifest.info.size != start:
                raise ValueError("data length differs from the manifest")
            handle.seek(0)
        except (ValueError, KeyError, struct.error) as exc:
            handle.close()
            raise IntegrityError(cid, f"damaged blob file ({exc})") from None
        except BaseException:
            handle.close()
            raise
        return handle, manifest

    def stat(self, cid: str) -> BlobInfo:
        handle, manifest = self._open(cid)
        handle.close()
        return manifest.info

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        handle, manifest = self._open(cid)
        if expected_sha256 is not None and manifest.info.sha256 != expected_sha256.lower():
            handle.close()
            raise IntegrityError(cid, "SHA-256 differs from the expected digest")
        return _closing(
            handle,
            verified_chunks(
                cid,
                lambda c: manifest.inner.get(str(c)),
                _read_range(handle, manifest.info.size),
                manifest.info.size,
                manifest.info.sha256,
            ),
        )

    def cids(self) -> Iterator[str]:
        for path in self._blobs.glob("*/*"):
            if path.is_file():
                yield path.name

    def delete(self, cid: str) -> bool:
        path = self._path(cid)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True


def _read_range(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes in leaf-sized reads (the manifest follows them)."""
    left = size
    while left > 0:
        chunk = handle.read(min(CHUNK_SIZE, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


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

"""The `Storage` contract, run against every backend (local, IPFS, S3, replicated)."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path

import pytest

from sharing_api.storage.base import Storage
from sharing_api.storage.errors import (
    IntegrityError,
    InvalidCIDError,
    NotFoundError,
    OverSizeError,
)
from sharing_api.storage.unixfs import CHUNK_SIZE, compute_cid


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 1_500_000])
def test_put_get_stat_round_trip(store: Storage, size: int) -> None:
    data = os.urandom(size)
    info = store.put(data)
    assert info.cid == str(compute_cid(data))
    assert info.size == size
    assert store.has(info.cid)
    assert store.get_bytes(info.cid) == data
    assert store.get_bytes(info.cid, expected_sha256=info.sha256) == data
    stat = store.stat(info.cid)
    assert (stat.cid, stat.size) == (info.cid, size)
    assert stat.sha256 in (info.sha256, None)  # IPFS records no SHA-256


def test_put_from_a_pipe_streams(store: Storage) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 7)
    read_end, write_end = os.pipe()

    def writer() -> None:
        with os.fdopen(write_end, "wb") as out:
            for i in range(0, len(data), 10_000):  # short writes: reads come back partial
                out.write(data[i : i + 10_000])

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        info = store.put(pipe)
    thread.join()
    assert info.cid == str(compute_cid(data))
    assert store.get_bytes(info.cid) == data


def test_cid_version_1(store: Storage) -> None:
    store.cid_version = 1  # type: ignore[attr-defined]
    for replica in getattr(store, "replicas", []):
        replica.cid_version = 1
    data = os.urandom(2 * CHUNK_SIZE + 5)
    info = store.put(data)
    assert info.cid.startswith("bafy")
    assert info.cid == str(compute_cid(data, 1))
    assert store.get_bytes(info.cid) == data


def test_unknown_cid_is_not_found(store: Storage) -> None:
    missing = str(compute_cid(os.urandom(64)))
    assert not store.has(missing)
    with pytest.raises(NotFoundError) as caught:
        store.get(missing)
    assert missing in str(caught.value)
    with pytest.raises(NotFoundError):
        store.stat(missing)
    assert isinstance(caught.value, OSError)


def test_malformed_cid_is_refused(store: Storage) -> None:
    with pytest.raises(InvalidCIDError):
        store.get("../../etc/passwd")


def test_delete_is_erasure(store: Storage) -> None:
    data = os.urandom(CHUNK_SIZE * 2)
    info = store.put(data)
    assert store.delete(info.cid) is True
    assert not store.has(info.cid)
    with pytest.raises(NotFoundError):
        store.get(info.cid)
    assert store.delete(info.cid) is False


def test_over_size_is_refused_before_anything_is_stored(store: Storage, tmp_path: Path) -> None:
    limit = CHUNK_SIZE
    store.max_size = limit  # type: ignore[attr-defined]
    data = os.urandom(limit + 1)
    path = tmp_path / "big"
    path.write_bytes(data)
    with pytest.raises(OverSizeError), path.open("rb") as handle:
        store.put(handle)
    # A stream of unknown length is refused too, once it passes the limit.
    read_end, write_end = os.pipe()

    def writer() -> None:
        with os.fdopen(write_end, "wb") as out, contextlib.suppress(BrokenPipeError):
            out.write(data)

    thread = threading.Thread(target=writer)
    thread.start()
    with pytest.raises(OverSizeError), os.fdopen(read_end, "rb") as pipe:
        store.put(pipe)
    thread.join()
    assert not store.has(str(compute_cid(data)))
    assert store.put(data[:limit]).size == limit  # at the limit is fine


def test_wrong_expected_sha256_is_an_integrity_error(store: Storage) -> None:
    info = store.put(b"record ciphertext")
    with pytest.raises(IntegrityError) as caught:
        store.get_bytes(info.cid, expected_sha256="00" * 32)
    assert info.cid in str(caught.value)


def test_get_to_file_appears_only_when_verified(store: Storage, tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 3)
    info = store.put(io.BytesIO(data))
    out = tmp_path / "out.bin"
    assert store.get_to_file(info.cid, out) == len(data)
    assert out.read_bytes() == data
    bad = tmp_path / "bad.bin"
    with pytest.raises(IntegrityError):
        store.get_to_file(info.cid, bad, expected_sha256="11" * 32)
    assert not bad.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_put_from_the_middle_of_a_file(store: Storage, tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 100)
    path = tmp_path / "with-header.bin"
    path.write_bytes(b"HEADER" + data)
    with path.open("rb") as handle:
        handle.seek(6)
        info = store.put(handle)
    assert info.cid == str(compute_cid(data))
    assert store.get_bytes(info.cid) == data

"""Local store specifics: layout, atomic writes, concurrent writers and readers."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sharing_api.storage.local import LocalStorage
from sharing_api.storage.unixfs import CHUNK_SIZE


def test_layout_is_sharded_and_leaves_no_temp_files(local_store: LocalStorage) -> None:
    data = os.urandom(2 * CHUNK_SIZE)
    info = local_store.put(data)
    shard = local_store.root / "blobs" / info.cid[-3:-1]
    assert [p.name for p in shard.iterdir()] == [info.cid]
    # The bytes as they are come first; the manifest and trailer follow them.
    assert (shard / info.cid).read_bytes()[: 2 * CHUNK_SIZE] == data
    assert list((local_store.root / "tmp").iterdir()) == []


def test_concurrent_writers_and_readers(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "cas")
    blobs = [os.urandom(CHUNK_SIZE * (i % 3) + i) for i in range(6)]
    # Every blob written by three writers at once, read back while others still write.
    jobs = [blob for blob in blobs for _ in range(3)]

    def write_then_read(data: bytes) -> bool:
        # A second store object on the same directory, as another process would have.
        other = LocalStorage(store.root)
        info = other.put(data)
        return other.get_bytes(info.cid) == data and store.get_bytes(info.cid) == data

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(write_then_read, jobs))
    assert list((store.root / "tmp").iterdir()) == []


def test_reader_keeps_a_blob_deleted_under_it(local_store: LocalStorage) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    info = local_store.put(data)
    stream = local_store.get(info.cid)
    first = next(stream)
    assert local_store.delete(info.cid)
    assert first + b"".join(stream) == data
    assert not local_store.has(info.cid)


def test_concurrent_processes_writing_the_same_and_other_blobs(tmp_path: Path) -> None:
    root = tmp_path / "cas"
    shared = tmp_path / "shared.bin"
    shared.write_bytes(os.urandom(3 * CHUNK_SIZE + 1))
    files = [shared, shared, shared]
    for i in range(3):
        own = tmp_path / f"own{i}.bin"
        own.write_bytes(os.urandom(CHUNK_SIZE + i))
        files.append(own)
    env = dict(os.environ, ALLIANCE_HOME=str(tmp_path / "home"))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharing_api.cli",
                "storage",
                "--local-root",
                str(root),
                "put",
                str(path),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        for path in files
    ]
    cids = [p.communicate(timeout=120)[0].decode().strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(cids[:3])) == 1
    store = LocalStorage(root)
    for path, cid in zip(files, cids, strict=True):
        assert store.get_bytes(cid) == path.read_bytes()
    assert list((root / "tmp").iterdir()) == []

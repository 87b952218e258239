"""Constant memory: a blob far larger than the peak allocation streams in and out.

tracemalloc counts every Python allocation (chunks, HTTP buffers, boto3 parts); the blob is
generated while it is read, so only the store could hold it all.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest

from sharing_api.storage.base import Storage
from sharing_api.storage.ipfs import IPFSStorage
from sharing_api.storage.local import LocalStorage
from tests.storage.conftest import make_s3
from tests.storage.streams import GeneratedStream, generated_sha256
from tests.support.ipfs import IPFSDaemon
from tests.support.seaweed import SeaweedFS

MiB = 1 << 20


def peaks(store: Storage, size: int) -> tuple[float, float]:
    """Peak traced MiB during put and during a verified get of a generated blob."""
    tracemalloc.start()
    try:
        info = store.put(io.BufferedReader(GeneratedStream(size, seed=7)))
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sha = hashlib.sha256()
        received = 0
        for chunk in store.get(info.cid):
            sha.update(chunk)
            received += len(chunk)
        get_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == size
    assert sha.hexdigest() == generated_sha256(size, seed=7)
    return put_peak / MiB, get_peak / MiB


@pytest.mark.slow
def test_local_constant_memory(tmp_path: Path) -> None:
    put_peak, get_peak = peaks(LocalStorage(tmp_path / "cas"), 256 * MiB)
    assert put_peak < 16 and get_peak < 16, (put_peak, get_peak)


@pytest.mark.slow
@pytest.mark.integration
def test_s3_constant_memory(seaweed: SeaweedFS) -> None:
    # Multipart upload in 8 MiB parts, at most 3 read ahead: bounded well below the blob.
    put_peak, get_peak = peaks(make_s3(seaweed), 160 * MiB)
    assert put_peak < 48 and get_peak < 16, (put_peak, get_peak)


@pytest.mark.slow
@pytest.mark.integration
def test_ipfs_constant_memory(ipfs_node: IPFSDaemon) -> None:
    put_peak, get_peak = peaks(IPFSStorage(ipfs_node.api_url), 96 * MiB)
    assert put_peak < 16 and get_peak < 16, (put_peak, get_peak)

"""Replicated storage: one replica stops mid-run and every read still succeeds, verified."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sharing_api.storage.errors import BackendUnavailableError
from sharing_api.storage.ipfs import IPFSStorage
from sharing_api.storage.local import LocalStorage
from sharing_api.storage.replicated import ReplicatedStorage
from sharing_api.storage.unixfs import CHUNK_SIZE
from tests.support.ipfs import ipfs_daemon

pytestmark = pytest.mark.integration


def test_reads_survive_the_ipfs_replica_stopping_mid_stream(tmp_path: Path) -> None:
    with ipfs_daemon() as node:
        # IPFS first, so reads go to it until it dies; the local copy takes over.
        ipfs = IPFSStorage(node.api_url, retries=2, timeout=5)
        store = ReplicatedStorage([ipfs, LocalStorage(tmp_path / "cas")])
        blobs = [os.urandom(n) for n in (0, 1000, CHUNK_SIZE + 1, 3 * CHUNK_SIZE)]
        big = os.urandom(48 * 1024 * 1024)
        infos = [store.put(b) for b in [*blobs, big]]
        for info, data in zip(infos, blobs, strict=False):
            assert ipfs.get_bytes(info.cid) == data  # really on the IPFS node

        stream = store.get(infos[-1].cid)
        received = bytearray(next(stream))
        node.stop()  # the off-site copy goes down in the middle of the read
        assert not node.running
        for chunk in stream:
            received += chunk
        assert bytes(received) == big
        assert store.failovers >= 1

        for info, data in zip(infos, blobs, strict=False):
            assert store.get_bytes(info.cid, expected_sha256=info.sha256) == data
            assert store.stat(info.cid).sha256 == info.sha256

        # Writes need every replica: refused, naming the dead one.
        with pytest.raises(BackendUnavailableError, match="ipfs"):
            store.put(b"new record")

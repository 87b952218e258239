"""A backend that is down: a clear error naming it, after bounded retries."""

from __future__ import annotations

import time

import pytest

from ledger_node.network.procs import free_ports
from sharing_api.storage.errors import BackendUnavailableError
from sharing_api.storage.ipfs import IPFSStorage
from sharing_api.storage.s3 import S3Storage

CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def test_ipfs_down() -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = IPFSStorage(f"http://127.0.0.1:{port}", retries=3)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        store.get(CID)
    assert time.monotonic() - start < 10
    assert "ipfs" in str(caught.value) and str(port) in str(caught.value)
    assert "3 attempts" in str(caught.value)
    assert isinstance(caught.value, OSError)
    with pytest.raises(BackendUnavailableError):
        store.put(b"record")


def test_s3_down() -> None:
    (port,) = free_ports(1)
    store = S3Storage(
        "records",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key="a",
        secret_key="b",
        retries=2,
    )
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        store.stat(CID)
    assert time.monotonic() - start < 20
    assert "s3 bucket records" in str(caught.value) and str(port) in str(caught.value)
    with pytest.raises(BackendUnavailableError):
        store.put(b"record")

"""Fixtures: the local store in a temp dir, and real js-ipfs and SeaweedFS servers.

The servers start once per test session (js-ipfs takes ~6-15 s); each test gets its own
key prefix on S3, and blobs are random so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sharing_api.storage.base import Storage
from sharing_api.storage.ipfs import IPFSStorage
from sharing_api.storage.local import LocalStorage
from sharing_api.storage.replicated import ReplicatedStorage
from sharing_api.storage.s3 import S3Storage
from tests.support.ipfs import IPFSDaemon, ipfs_daemon
from tests.support.seaweed import SeaweedFS, seaweedfs

BACKENDS = [
    "local",
    pytest.param("ipfs", marks=pytest.mark.integration),
    pytest.param("s3", marks=pytest.mark.integration),
    pytest.param("replicated", marks=pytest.mark.integration),
]


@pytest.fixture(scope="session")
def ipfs_node() -> Iterator[IPFSDaemon]:
    with ipfs_daemon() as node:
        yield node


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedFS]:
    with seaweedfs() as server:
        yield server


def make_s3(server: SeaweedFS, **kwargs: object) -> S3Storage:
    return S3Storage(
        "alliance-test",
        prefix=f"t-{uuid.uuid4().hex[:12]}/",
        endpoint_url=server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "cas")


@pytest.fixture
def ipfs_store(ipfs_node: IPFSDaemon) -> Iterator[IPFSStorage]:
    store = IPFSStorage(ipfs_node.api_url)
    yield store
    store.close()


@pytest.fixture
def s3_store(seaweed: SeaweedFS) -> Iterator[S3Storage]:
    store = make_s3(seaweed)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Each backend in turn, behind the one interface."""
    kind = request.param
    built: Storage
    if kind == "local":
        built = LocalStorage(tmp_path / "cas")
    elif kind == "ipfs":
        built = IPFSStorage(request.getfixturevalue("ipfs_node").api_url)
    elif kind == "s3":
        built = make_s3(request.getfixturevalue("seaweed"))
    else:
        built = ReplicatedStorage(
            [
                LocalStorage(tmp_path / "cas"),
                make_s3(request.getfixturevalue("seaweed")),
            ]
        )
    yield built
    built.close()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)

"""Tampered or damaged blobs: an IntegrityError naming the CID, never unverified bytes."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from sharing_api.storage.base import Storage
from sharing_api.storage.errors import IntegrityError
from sharing_api.storage.ipfs import IPFSStorage
from sharing_api.storage.local import LocalStorage
from sharing_api.storage.replicated import ReplicatedStorage
from sharing_api.storage.s3 import S3Storage
from sharing_api.storage.unixfs import CHUNK_SIZE
from tests.storage.conftest import make_s3
from tests.support.ipfs import IPFSDaemon
from tests.support.seaweed import SeaweedFS

SIZE = 5 * CHUNK_SIZE + 1000
BAD_OFFSET = 3 * CHUNK_SIZE + 17  # inside the fourth block


def data_file(store: LocalStorage, cid: str) -> Path:
    return store.root / "blobs" / cid[-3:-1] / cid


def read_until_error(store: Storage, cid: str) -> tuple[bytes, IntegrityError]:
    """Everything the store handed out before it raised (opening may raise already)."""
    received = bytearray()
    with pytest.raises(IntegrityError) as caught:
        for chunk in store.get(cid):
            received += chunk
    return bytes(received), caught.value


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_local_flipped_byte_stops_before_the_bad_block(local_store: LocalStorage) -> None:
    data = os.urandom(SIZE)
    info = local_store.put(data)
    flip(data_file(local_store, info.cid), BAD_OFFSET)
    received, error = read_until_error(local_store, info.cid)
    assert info.cid in str(error)
    # Only whole verified blocks before the damaged one were handed out.
    assert len(received) % CHUNK_SIZE == 0 and len(received) <= 3 * CHUNK_SIZE
    assert received == data[: len(received)]


@pytest.mark.parametrize("damage", ["truncate", "append", "manifest"])
def test_local_other_damage(local_store: LocalStorage, damage: str) -> None:
    data = os.urandom(SIZE)
    info = local_store.put(data)
    path = data_file(local_store, info.cid)
    if damage == "truncate":
        with path.open("r+b") as handle:
            handle.truncate(SIZE - 10)
    elif damage == "append":
        with path.open("ab") as handle:
            handle.write(b"extra")
    else:
        flip(path, path.stat().st_size - 100)  # the manifest's last inner node
    received, error = read_until_error(local_store, info.cid)
    assert info.cid in str(error)
    assert received == data[: len(received)]
    assert len(received) < SIZE  # the last block is held back until all checks passed


def test_single_block_blob_is_verified_before_any_byte(local_store: LocalStorage) -> None:
    info = local_store.put(b"a small FHIR bundle, encrypted")
    flip(data_file(local_store, info.cid), 3)
    received, _ = read_until_error(local_store, info.cid)
    assert received == b""


@pytest.mark.integration
def test_s3_tampered_object(s3_store: S3Storage, seaweed: SeaweedFS) -> None:
    data = os.urandom(SIZE)
    info = s3_store.put(data)
    tampered = bytearray(data)
    tampered[BAD_OFFSET] ^= 0x01
    client = boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name="us-east-1",
    )
    client.put_object(
        Bucket=s3_store.bucket, Key=f"{s3_store.prefix}{info.cid}", Body=bytes(tampered)
    )
    received, error = read_until_error(s3_store, info.cid)
    assert info.cid in str(error)
    assert received == data[: len(received)] and len(received) <= 3 * CHUNK_SIZE


@pytest.mark.integration
def test_ipfs_corrupted_block_on_the_node(ipfs_store: IPFSStorage, ipfs_node: IPFSDaemon) -> None:
    marker = b"MARKER-" + os.urandom(16).hex().encode()
    data = os.urandom(2 * CHUNK_SIZE) + marker + os.urandom(CHUNK_SIZE)
    info = ipfs_store.put(data)
    blocks = [p for p in (ipfs_node.repo / "blocks").rglob("*.data") if marker in p.read_bytes()]
    assert len(blocks) == 1
    raw = bytearray(blocks[0].read_bytes())
    raw[raw.index(marker)] ^= 0x01
    blocks[0].write_bytes(bytes(raw))
    received, error = read_until_error(ipfs_store, info.cid)
    assert info.cid in str(error)
    assert received == data[: len(received)] and len(received) <= 2 * CHUNK_SIZE


@pytest.mark.integration
def test_replicated_read_survives_a_corrupted_replica(tmp_path: Path, seaweed: SeaweedFS) -> None:
    local = LocalStorage(tmp_path / "cas")
    store = ReplicatedStorage([local, make_s3(seaweed)])
    data = os.urandom(SIZE)
    info = store.put(data)
    flip(data_file(local, info.cid), BAD_OFFSET)
    assert store.get_bytes(info.cid) == data  # local fails mid-stream, S3 finishes it

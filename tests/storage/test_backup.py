"""A backup replica (an alliance backup centre) is written and erased with every blob but
never read; a restore copies blobs back, verified. Local stores stand in for the endpoints
here; tests/gateway/test_backends.py runs it against SeaweedFS behind a gateway."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from sharing_api.storage.config import load_config, open_storage
from sharing_api.storage.errors import NotFoundError
from sharing_api.storage.local import LocalStorage
from sharing_api.storage.replicated import ReplicatedStorage
from sharing_api.storage.restore import restore


def _stores(tmp_path: Path) -> tuple[ReplicatedStorage, LocalStorage, LocalStorage]:
    primary, backup = LocalStorage(tmp_path / "primary"), LocalStorage(tmp_path / "backup")
    return ReplicatedStorage([primary], backups=[backup]), primary, backup


def test_writes_reach_the_backup_reads_never_come_from_it(tmp_path: Path) -> None:
    store, primary, backup = _stores(tmp_path)
    blob = secrets.token_bytes(600_000)  # several leaves
    info = store.put(blob)
    assert backup.get_bytes(info.cid) == blob
    primary.delete(info.cid)
    with pytest.raises(NotFoundError, match="backup serves no reads"):
        store.get(info.cid)
    assert not store.has(info.cid)
    assert list(store.cids()) == []  # the primaries' blobs, not the backup's


def test_restore_brings_back_verified_blobs_and_refuses_damaged_ones(tmp_path: Path) -> None:
    store, primary, backup = _stores(tmp_path)
    good = store.put(secrets.token_bytes(300_000)).cid
    bad = store.put(secrets.token_bytes(300_000)).cid
    kept = store.put(b"still in the primary").cid
    primary.delete(good)
    primary.delete(bad)
    damaged = next((tmp_path / "backup" / "blobs").glob(f"*/{bad}"))
    raw = bytearray(damaged.read_bytes())
    raw[1000] ^= 1
    damaged.write_bytes(bytes(raw))

    report = restore(store.replicas, backup)
    assert report.restored == [good]
    assert kept in report.present
    assert list(report.failed) == [bad] and "integrity check failed" in report.failed[bad]
    assert primary.get_bytes(good) == backup.get_bytes(good)
    assert not primary.has(bad)  # nothing unverified landed


def test_restore_check_present_replaces_a_damaged_primary_copy(tmp_path: Path) -> None:
    store, _, _ = _stores(tmp_path)
    blob = secrets.token_bytes(300_000)
    cid = store.put(blob).cid
    path = next((tmp_path / "primary" / "blobs").glob(f"*/{cid}"))
    raw = bytearray(path.read_bytes())
    raw[5] ^= 1
    path.write_bytes(bytes(raw))
    assert restore(store.replicas, store.backups[0]).present == [cid]  # has() cannot tell
    report = restore(store.replicas, store.backups[0], check_present=True)
    assert report.restored == [cid]
    assert store.get_bytes(cid) == blob


def test_erasure_reaches_the_backup(tmp_path: Path) -> None:
    store, _, backup = _stores(tmp_path)
    cid = store.put(b"erase me everywhere").cid
    assert store.delete(cid)
    assert not backup.has(cid)


def test_backup_setting(tmp_path: Path) -> None:
    backup = '{"backend": "s3", "s3_endpoint": "http://127.0.0.1:9", "s3_bucket": "h1"}'
    config = load_config(
        overrides={"local_root": str(tmp_path)}, environ={"ALLIANCE_STORAGE_BACKUP": backup}
    )
    assert config.backup is not None and config.backup.s3_bucket == "h1"
    store = open_storage(config)
    assert isinstance(store, ReplicatedStorage)
    assert [r.name for r in store.replicas] == ["local"]
    assert [b.name for b in store.backups] == ["s3"]
    for wrong in ('{"backend": "local"}', '{"backend": "replicated"}'):
        with pytest.raises(ValueError, match="backup must be one s3 or ipfs endpoint"):
            load_config(overrides={"backup": wrong}, environ={})

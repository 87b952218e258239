"""`alliance node backup|restore`: a consistent copy while the node produces, and a restore
that checks the archive whole before anything on disk changes."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from ledger_node.backup import BackupError, backup, read_manifest, restore
from ledger_node.block import Header
from sharing_api.cli.main import main
from tests.support.ledger import DEV_KEYS, dev_genesis, init_node, running_node

from .helpers import make_chain, sign

SINK = "0x" + "11" * 20


@pytest.mark.integration
def test_backup_while_producing_then_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "node"
    key = DEV_KEYS[0]
    init_node(data, dev_genesis([key], checkpointInterval=4))
    archive = tmp_path / "backup.tar.gz"
    halt = threading.Event()
    sent: list[int] = []

    with running_node(member_keys=[key], data_dir=data) as node:

        def traffic() -> None:
            nonce = 0
            while not halt.is_set() and nonce < 400:
                raw = sign(key, nonce, SINK, b"")
                node.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
                sent.append(nonce)
                nonce += 1

        sender = threading.Thread(target=traffic, daemon=True)
        sender.start()
        while len(sent) < 40:
            halt.wait(0.02)
        assert main(["node", "backup", "--data-dir", str(data), "--out", str(archive)]) == 0
        halt.set()
        sender.join(30)
        final = int(node.rpc("eth_blockNumber", []), 16)
        manifest = read_manifest(archive)
        # The snapshot is one block height of the live chain: the same hash the node serves.
        served = node.rpc("eth_getBlockByNumber", [hex(manifest.head_number), False])
        assert served["hash"] == manifest.head_hash
    assert "backed up" in capsys.readouterr().out
    assert 0 < manifest.head_number <= final
    assert not manifest.includes_key
    with tarfile.open(archive) as tar:  # the sealer key stays out unless asked for
        assert sorted(tar.getnames()) == ["chain.sqlite3", "manifest.json"]

    restored = tmp_path / "restored"
    assert main(["node", "restore", str(archive), "--data-dir", str(restored)]) == 0
    assert f"restored block {manifest.head_number}" in capsys.readouterr().out
    assert main(["node", "verify", "--data-dir", str(restored)]) == 0
    # The restored node starts and serves the backed-up head.
    with running_node(member_keys=[key], data_dir=restored) as again:
        block = again.rpc("eth_getBlockByNumber", [hex(manifest.head_number), False])
        assert block["hash"] == manifest.head_hash


def _chain_with_blocks(tmp: Path, n: int = 3) -> Path:
    chain = make_chain(tmp)
    sender = DEV_KEYS[0]
    for nonce in range(n):
        chain.submit(sign(sender, nonce, SINK, b""))
        chain.produce_block(now=1_700_000_010 + nonce)
    chain.close()
    return tmp


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None]) -> None:
    """A copy of ``archive`` with members replaced (bytes), dropped (None) or added."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name in change:
                replacement = change.pop(member.name)
                if replacement is None:
                    continue
                data = replacement
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
        for name, data in change.items():
            assert data is not None
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_restore_refuses_a_bad_archive_and_changes_nothing(tmp_path: Path) -> None:
    source = _chain_with_blocks(tmp_path / "src")
    archive = tmp_path / "good.tar.gz"
    manifest = backup(source, archive)
    assert manifest.head_number == 3
    with tarfile.open(archive) as tar:
        db = tar.extractfile("chain.sqlite3").read()  # type: ignore[union-attr]
        meta = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]

    # A block header rewritten, and the manifest's digest updated to match: the chain
    # itself does not re-execute, so the restore refuses it.
    forged_db = tmp_path / "forged.sqlite3"
    forged_db.write_bytes(db)
    conn = sqlite3.connect(forged_db)
    header = Header.decode(conn.execute("SELECT header FROM blocks WHERE number=2").fetchone()[0])
    conn.execute(
        "UPDATE blocks SET header=? WHERE number=2",
        (replace(header, timestamp=header.timestamp + 1).encode(),),
    )
    conn.commit()
    conn.close()
    forged = forged_db.read_bytes()
    forged_meta = {**meta, "db_sha256": hashlib.sha256(forged).hexdigest(), "db_bytes": len(forged)}
    cases: dict[str, dict[str, bytes | None]] = {
        "digest": {"chain.sqlite3": db[:-1] + bytes([db[-1] ^ 1])},
        "does not verify|not the chain": {
            "chain.sqlite3": forged,
            "manifest.json": json.dumps(forged_meta).encode(),
        },
        "unexpected archive member": {"../evil": b"x"},
        "no chain.sqlite3": {"chain.sqlite3": None},
        "not a version-1": {"manifest.json": json.dumps({**meta, "version": 2}).encode()},
        "malformed": {"manifest.json": b"{"},
    }
    target = tmp_path / "target"
    for why, change in cases.items():
        bad = tmp_path / "bad.tar.gz"
        _rewrite(archive, bad, dict(change))
        with pytest.raises(BackupError, match=why):
            restore(bad, target)
        assert not (target / "chain.sqlite3").exists(), why
    not_tar = tmp_path / "not.tar.gz"
    not_tar.write_bytes(b"hello")
    with pytest.raises(BackupError, match="not a node backup"):
        restore(not_tar, target)

    # Checked against the alliance's own genesis file: another alliance's is refused.
    import sqlite3 as _sqlite3

    own = (
        _sqlite3.connect(source / "chain.sqlite3")
        .execute("SELECT value FROM meta WHERE key='genesis'")
        .fetchone()[0]
    )
    other = json.dumps({**json.loads(own), "chainId": 999})
    with pytest.raises(BackupError, match="does not verify"):
        restore(archive, target, genesis_text=other)
    assert not (target / "chain.sqlite3").exists()

    # A data dir with a chain is replaced only with force; the old one is kept aside.
    restore(archive, target)
    with pytest.raises(BackupError, match="already holds a chain"):
        restore(archive, target)
    done = restore(archive, target, force=True)
    assert done.replaced is not None and done.replaced.exists()
    assert (done.blocks, done.transactions) == (4, 3)


def test_the_key_travels_only_when_asked(tmp_path: Path) -> None:
    source = _chain_with_blocks(tmp_path / "src", 1)
    key = Account.create()
    (source / "node.key").write_text(bytes(key.key).hex() + "\n")
    archive = tmp_path / "with-key.tar.gz"
    assert backup(source, archive, include_key=True).includes_key
    assert archive.stat().st_mode & 0o077 == 0  # a sealer key inside: the owner's only
    target = tmp_path / "target"
    restore(archive, target)
    assert (target / "node.key").read_text().strip() == bytes(key.key).hex()
    assert (target / "node.key").stat().st_mode & 0o077 == 0
    # An operator's own key file wins over the archive's; a malformed one is refused.
    other = tmp_path / "other.key"
    other.write_text("0x" + "42" * 32)
    restore(archive, target, force=True, key_file=other)
    assert (target / "node.key").read_text().strip() == "0x" + "42" * 32
    other.write_text("not a key")
    with pytest.raises(ValueError, match="not a secp256k1 private key"):
        restore(archive, tmp_path / "t2", key_file=other)
    assert not (tmp_path / "t2" / "chain.sqlite3").exists()

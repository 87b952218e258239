"""A joining node's snapshot check, in-process: a true copy passes, every kind of forgery fails.

The snapshot is a backup archive's database (``backup.backup``); the check trusts only the
genesis file: seal chain from genesis, the checkpoint's state against its header's
commitment, the history against the headers, and blocks after the checkpoint re-executed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from coincurve import PrivateKey

from ledger_node.backup import backup, read_manifest, unpack_checked
from ledger_node.block import Header
from ledger_node.chain import Chain
from ledger_node.genesis import Genesis
from ledger_node.network.catchup import raw_block
from ledger_node.network.layout import decode_block
from ledger_node.snapshot_check import SnapshotError, check_snapshot
from ledger_node.store import Store
from tests.ledger_node.helpers import deploy_probe, make_chain
from tests.network.test_apply import K0, produce

INTERVAL = 3


@pytest.fixture
def source(tmp_path: Path) -> Chain:
    chain = make_chain(tmp_path / "src", interval=INTERVAL)
    probe = deploy_probe(chain, K0)
    for i in range(6):  # blocks 2..7: checkpoint at 6, block 7 after it
        produce(chain, probe, 1_700_000_100 + i)
    return chain


def snapshot_db(source: Chain, into: Path) -> Path:
    archive = into / "snap.tar.gz"
    backup(source.store.path.parent, archive)
    (into / "db").mkdir()
    db, _ = unpack_checked(archive, into / "db", read_manifest(archive))
    return db


def check(db: Path, source: Chain) -> int:
    text = (source.store.get_meta("genesis") or b"").decode()
    store = Store(db)
    try:
        checked = check_snapshot(store, Genesis.from_json(text), text)
    finally:
        store.close()
    chain = Chain(db.parent)
    try:
        for header, raws in checked.later:
            chain.apply_block(header, raws)
        assert chain.head.hash == source.head.hash
    finally:
        chain.close()
    return checked.checkpoint


def test_a_true_snapshot_verifies_and_rebuilds_the_head(source: Chain, tmp_path: Path) -> None:
    db = snapshot_db(source, tmp_path)
    assert check(db, source) == 6
    joined = Chain(db.parent)
    assert joined.head.number == source.head.number == 7
    # the history below the checkpoint is kept (reads of old blocks and receipts work)
    assert [r.hash for r in joined.store.block_txs(4)] == [
        r.hash for r in source.store.block_txs(4)
    ]
    joined.close()


def edit(db: Path, sql: str, *args: object) -> None:
    store = Store(db)
    store.db.execute(sql, args)
    store.close()


def reseal(db: Path, number: int, change: Callable[[Header], Header], key: PrivateKey) -> None:
    store = Store(db)
    header = change(Header.decode(store.header(number) or b"")).sealed(key)
    store.db.execute(
        "UPDATE blocks SET header=?, hash=? WHERE number=?", (header.encode(), header.hash, number)
    )
    store.close()


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a balance in the checkpoint state": (
        lambda db: edit(db, "UPDATE state_account SET balance='1000000000'"),
        "does not match the state commitment in block 6",
    ),
    "a storage slot in the checkpoint state": (
        lambda db: edit(db, "UPDATE state_storage SET value=x'" + "00" * 31 + "07'"),
        "does not match the state commitment",
    ),
    "a state row of the wrong type": (
        lambda db: edit(db, "UPDATE state_storage SET value='7'"),
        "malformed",
    ),
    "a header re-sealed by a non-sealer": (
        lambda db: reseal(db, 6, lambda h: h, PrivateKey()),
        "not a genesis sealer",
    ),
    "a header whose state root is the forged state's": (
        lambda db: reseal(db, 4, lambda h: replace(h, state_root=b"\x01" * 32), PrivateKey()),
        "block 4",
    ),
    "a transaction's sender": (
        lambda db: edit(db, "UPDATE txs SET sender=zeroblob(20) WHERE block=4 AND idx=0"),
        "sender is not its signature's",
    ),
    "a log's data": (
        lambda db: edit(db, "UPDATE logs SET data=x'00' WHERE block=5"),
        "transactions or receipts differ",
    ),
    "a transaction's status": (
        lambda db: edit(db, "UPDATE txs SET status=0 WHERE block=3"),
        "transactions or receipts differ",
    ),
}


@pytest.mark.parametrize("what", list(CASES))
def test_a_forged_snapshot_is_refused(what: str, source: Chain, tmp_path: Path) -> None:
    db = snapshot_db(source, tmp_path)
    tamper, message = CASES[what]
    tamper(db)
    with pytest.raises(SnapshotError, match=message):
        check(db, source)


def test_a_block_after_the_checkpoint_is_re_executed(source: Chain, tmp_path: Path) -> None:
    """Block 7 is past the checkpoint: its header alone is checked by the scan, its
    transactions by re-execution (a changed transaction list fails there)."""
    db = snapshot_db(source, tmp_path)
    edit(db, "DELETE FROM txs WHERE block=7 AND idx=0")
    with pytest.raises(ValueError, match="block 7"):
        check(db, source)


def test_raw_block_is_the_etcd_wire_format(source: Chain) -> None:
    blob = raw_block(source, hex(5))
    assert blob is not None
    header, raws = decode_block(bytes.fromhex(blob[2:]))
    assert header == source.header_at(5)
    assert raws == [r.raw for r in source.store.block_txs(5)]
    assert raw_block(source, hex(99)) is None

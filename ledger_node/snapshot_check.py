"""Checking a copy of a chain before a node uses it: a peer's snapshot for a joining node
(``alliance network join``) or a backup being restored (``alliance node restore``).

A snapshot is a chain database (the ``alliance node backup`` archive, served at
``GET /snapshot``). Nothing in it is taken on its source's word; the check trusts only the
genesis it is given (the joining node's out-of-band file; for a restore, ``--genesis`` or
the archive's own):

* block 0 must be that genesis's block, and the database's genesis is replaced by it;
* every header 1..head must link to its parent, be sealed by a genesis sealer (its coinbase)
  and never go back in time: the seal chain from genesis;
* the state stored at the last checkpoint C is re-hashed from its rows (the stored digest is
  ignored) and must equal the state commitment in header C;
* the history up to C is checked against the sealed headers without re-execution: every
  transaction's hash and sender come from its signed bytes, the transactions root, the
  receipts root (status, gas, logs as stored), the bloom, the gas used and, between
  checkpoints, the running state root;
* blocks after C are cut from the database and handed back: the node re-executes them with
  ``Chain.apply_block``, exactly as it verifies blocks from etcd.

Not covered by any header: a reverted transaction's revert data (``output``), which reads
return as the error's data.

Block bodies (a signature recovery per transaction, the receipts) are most of the work, so
worker processes check ranges of blocks while this process checks the seals and the state.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ledger_node.abc import LogEntry
from ledger_node.block import (
    EMPTY_BLOOM,
    Header,
    logs_bloom,
    merge_blooms,
    receipt_item,
    receipts_root,
    running_state_root,
    transactions_root,
)
from ledger_node.datadir import DB_FILE, genesis_header
from ledger_node.genesis import Genesis
from ledger_node.state import WorldState
from ledger_node.store import Store, TxRow
from ledger_node.txcodec import TxError, create_address, decode_raw

WORKERS = max(1, min(4, os.cpu_count() or 1))


class SnapshotError(ValueError):
    """A snapshot that does not verify against the trusted genesis; nothing was used."""


@dataclass
class Checked:
    checkpoint: int
    head: int
    transactions: int
    # Blocks after the checkpoint (header, raw transactions), to re-execute in order.
    later: list[tuple[Header, list[bytes]]] = field(default_factory=list)


def verify_copy(directory: Path, genesis_text: str) -> Checked:
    """Check the chain database in ``directory`` against ``genesis_text`` and bring it back
    to its head: blocks after its checkpoint are re-executed with ``Chain.apply_block``
    exactly as blocks from etcd. ``ValueError`` (SnapshotError, SealError, ...) if it fails."""
    from ledger_node.chain import Chain  # the chain module is heavy; only this needs it

    genesis = Genesis.from_json(genesis_text)
    store = Store(directory / DB_FILE)
    try:
        checked = check_snapshot(store, genesis, genesis_text)
    finally:
        store.close()
    chain = Chain(directory)
    try:
        for header, raws in checked.later:
            chain.apply_block(header, raws)
    finally:
        chain.close()
    checked.transactions += sum(len(raws) for _, raws in checked.later)
    return checked


def check_snapshot(store: Store, genesis: Genesis, genesis_text: str) -> Checked:
    """Verify ``store`` (a copy, changed in place) and cut it back to its checkpoint."""
    block0 = _header(store, 0)
    if block0 != genesis_header(genesis, genesis.initial_state()):
        raise SnapshotError("block 0 is not this alliance's genesis block")
    head = store.head_number()
    raw_ckpt = store.get_meta("checkpoint") or b"0"
    try:
        ckpt = int(raw_ckpt)
    except ValueError:
        raise SnapshotError("the checkpoint marker is malformed") from None
    if not 0 <= ckpt <= head:
        raise SnapshotError(f"checkpoint {ckpt} is outside the chain (head {head})")
    counts = dict(
        store.db.execute(
            "SELECT block, COUNT(*) FROM txs WHERE block BETWEEN 1 AND ? GROUP BY block", (ckpt,)
        ).fetchall()
    )
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        # Bodies (a signature recovery per transaction, receipts roots) are most of the
        # work: worker processes check them while this one checks the seals and the state.
        bodies = [
            pool.submit(check_bodies, str(store.path), lo, hi) for lo, hi in _ranges(counts, ckpt)
        ]
        headers = _check_seals(store, genesis, block0, head)
        state = _check_state(store, headers[ckpt], ckpt)
        roots: dict[int, bytes] = {}
        for body in bodies:
            error, found = body.result()
            if error is not None:
                raise SnapshotError(error)
            roots.update(found)
    _check_running_roots(genesis, headers, roots, counts, ckpt)
    total = sum(counts.values())
    later = [
        (_header(store, n), [r.raw for r in store.block_txs(n)]) for n in range(ckpt + 1, head + 1)
    ]
    store.begin()
    for table, column in (("logs", "block"), ("txs", "block"), ("blocks", "number")):
        store.db.execute(f"DELETE FROM {table} WHERE {column} > ?", (ckpt,))
    store.db.execute("DELETE FROM pool")
    store.set_meta("genesis", genesis_text.encode())
    store.set_meta("state_digest", state.digest.to_bytes(32, "big"))
    store.commit()
    return Checked(ckpt, head, total, later)


def _check_seals(store: Store, genesis: Genesis, block0: Header, head: int) -> list[Header]:
    """The seal chain from genesis: headers 0..head, each linked, sealed, in time."""
    headers = [block0]
    for n in range(1, head + 1):
        hd, parent = _header(store, n), headers[-1]
        if hd.number != n or hd.parent_hash != parent.hash:
            raise SnapshotError(f"block {n}: broken hash link")
        signer = hd.signer()
        if signer not in genesis.sealers or signer != hd.coinbase:
            raise SnapshotError(f"block {n}: sealed by 0x{signer.hex()}, not a genesis sealer")
        if hd.timestamp < parent.timestamp:
            raise SnapshotError(f"block {n}: timestamp before its parent's")
        headers.append(hd)
    return headers


def _check_running_roots(
    genesis: Genesis,
    headers: list[Header],
    roots: dict[int, bytes],
    counts: dict[int, int],
    ckpt: int,
) -> None:
    """Between checkpoints a block's state root chains its receipts root onto its parent's;
    which blocks are checkpoints follows from the transaction counts (protocol rule)."""
    since = 0
    for n in range(1, ckpt + 1):
        since += counts.get(n, 0)
        if genesis.is_checkpoint(n, since):
            since = 0
        elif headers[n].state_root != running_state_root(headers[n - 1].state_root, roots[n]):
            raise SnapshotError(f"block {n}: state root is not the running root")
    if since != 0:
        raise SnapshotError(f"block {ckpt} is not a checkpoint")


def _check_state(store: Store, checkpoint_header: Header, ckpt: int) -> WorldState:
    try:
        state = store.load_state(None)  # every account and slot hashed again
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"the snapshot's state rows are malformed ({exc})") from None
    if state.commitment() != checkpoint_header.state_root:
        raise SnapshotError(
            f"the snapshot's state does not match the state commitment in block {ckpt}'s header"
        )
    return state


def _header(store: Store, n: int) -> Header:
    blob = store.header(n)
    if blob is None:
        raise SnapshotError(f"block {n} is missing")
    try:
        hd = Header.decode(blob)
    except (ValueError, AssertionError, IndexError) as exc:
        raise SnapshotError(f"block {n}: undecodable header ({exc})") from None
    row = store.db.execute("SELECT hash FROM blocks WHERE number=?", (n,)).fetchone()
    if bytes(row[0]) != hd.hash:
        raise SnapshotError(f"block {n}: stored hash is not the header's")
    return hd


def _check_body(store: Store, hd: Header) -> bytes:
    """Check block ``hd``'s stored transactions, receipts and logs against its header."""
    n = hd.number
    rows = store.block_txs(n)
    first = store.block_first_log(n)
    logs = store.logs_range(first, sum(r.log_count for r in rows)) if rows else []
    items: list[list[object]] = []
    blooms: list[bytes] = []
    cumulative = 0
    at = first
    for i, row in enumerate(rows):
        _check_tx(n, i, row)
        own = logs[at - first : at - first + row.log_count]
        mine = [LogEntry(lg.address, lg.topics, lg.data) for lg in own]
        if row.first_log != at or len(own) != row.log_count or any(lg.tx_idx != i for lg in own):
            raise SnapshotError(f"block {n}: logs of transaction {i} are out of place")
        at += row.log_count
        cumulative += row.gas_used
        bloom = logs_bloom(mine) if mine else EMPTY_BLOOM
        if row.cumulative_gas != cumulative or row.bloom != bloom:
            raise SnapshotError(f"block {n}: receipt {i} does not add up")
        items.append(receipt_item(row.status, row.gas_used, list(mine)))
        blooms.append(bloom)
    if len(logs) != at - first:
        raise SnapshotError(f"block {n}: logs missing")
    rroot = receipts_root(items)
    if (
        transactions_root([r.hash for r in rows]) != hd.transactions_root
        or rroot != hd.receipts_root
        or merge_blooms(blooms) != hd.logs_bloom
        or cumulative != hd.gas_used
    ):
        raise SnapshotError(f"block {n}: transactions or receipts differ from its header")
    return rroot


def _ranges(counts: dict[int, int], upto: int) -> list[tuple[int, int]]:
    """Blocks 1..``upto`` in up to ``WORKERS`` contiguous ranges of about as many txs."""
    total = sum(counts.values())
    ranges: list[tuple[int, int]] = []
    lo, acc = 1, 0
    for block in range(1, upto + 1):
        acc += counts.get(block, 0)
        if block == upto or acc * WORKERS >= total * (len(ranges) + 1) > 0:
            ranges.append((lo, block))
            lo = block + 1
    return ranges


def check_bodies(db: str, lo: int, hi: int) -> tuple[str | None, dict[int, bytes]]:
    """In a worker process: blocks lo..hi's bodies against their headers; (the first
    error or None, each block's receipts root)."""
    store = Store(Path(db))
    roots: dict[int, bytes] = {}
    try:
        for n in range(lo, hi + 1):
            roots[n] = _check_body(store, _header(store, n))
    except SnapshotError as exc:
        return str(exc), roots
    finally:
        store.close()
    return None, roots


def _check_tx(n: int, i: int, row: TxRow) -> None:
    try:
        tx = decode_raw(row.raw)
    except TxError as exc:
        raise SnapshotError(f"block {n}: transaction {i} does not decode ({exc})") from None
    if row.idx != i or tx.hash != row.hash or tx.sender != row.sender:
        raise SnapshotError(f"block {n}: transaction {i}'s hash or sender is not its signature's")
    if row.contract is not None and (
        tx.to is not None or row.contract != create_address(tx.sender, tx.nonce)
    ):
        raise SnapshotError(f"block {n}: transaction {i}'s contract address is wrong")

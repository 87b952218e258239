"""SQLite (WAL) storage: blocks, transactions with receipts, the log index, the pool and the
checkpoint state. One SQLite transaction per block keeps every block all-or-nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_node.state import Account, StateDelta, WorldState

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL,
    first_log INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY, block INTEGER NOT NULL, idx INTEGER NOT NULL, sender BLOB NOT NULL,
    raw BLOB NOT NULL, status INTEGER NOT NULL, gas_used INTEGER NOT NULL,
    cumulative_gas INTEGER NOT NULL, contract BLOB, first_log INTEGER NOT NULL,
    log_count INTEGER NOT NULL, output BLOB NOT NULL, bloom BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS txs_block ON txs(block, idx);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, block INTEGER NOT NULL, tx_idx INTEGER NOT NULL,
    address BLOB NOT NULL, t0 BLOB, t1 BLOB, t2 BLOB, t3 BLOB, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS logs_address ON logs(address, block);
CREATE INDEX IF NOT EXISTS logs_t0 ON logs(t0, block);
CREATE INDEX IF NOT EXISTS logs_t1 ON logs(t1, block);
CREATE INDEX IF NOT EXISTS logs_t2 ON logs(t2, block);
CREATE INDEX IF NOT EXISTS logs_t3 ON logs(t3, block);
CREATE TABLE IF NOT EXISTS pool (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,
    raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state_account (addr BLOB PRIMARY KEY, balance TEXT NOT NULL,
    nonce INTEGER NOT NULL, code BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_storage (addr BLOB NOT NULL, slot BLOB NOT NULL,
    value BLOB NOT NULL, PRIMARY KEY (addr, slot)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class TxRow:
    hash: bytes
    block: int
    idx: int
    sender: bytes
    raw: bytes
    status: int
    gas_used: int
    cumulative_gas: int
    contract: bytes | None
    first_log: int
    log_count: int
    output: bytes
    bloom: bytes


@dataclass(frozen=True)
class LogRow:
    id: int
    block: int
    tx_idx: int
    address: bytes
    topics: list[bytes]
    data: bytes


class Store:
    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.db.execute("PRAGMA cache_size=-65536")
        self.db.executescript(SCHEMA)
        self._in_tx = False
        self.last_logs_query: tuple[str, list[object]] = ("", [])

    def close(self) -> None:
        self.db.close()

    # -- transactions ------------------------------------------------------------------
    def begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            self.db.execute("ROLLBACK")
            self._in_tx = False

    # -- meta ------------------------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- pool ------------------------------------------------------------------------
    def pool_add(self, tx_hash: bytes, raw: bytes) -> int:
        cur = self.db.execute("INSERT INTO pool (hash, raw) VALUES (?, ?)", (tx_hash, raw))
        return int(cur.lastrowid or 0)

    def pool_all(self) -> list[tuple[int, bytes]]:
        return [
            (int(s), bytes(r)) for s, r in self.db.execute("SELECT seq, raw FROM pool ORDER BY seq")
        ]

    def pool_remove_upto(self, seq: int) -> None:
        self.db.execute("DELETE FROM pool WHERE seq <= ?", (seq,))

    # -- blocks ------------------------------------------------------------------------
    def put_block(self, number: int, block_hash: bytes, header: bytes, first_log: int) -> None:
        self.db.execute(
            "INSERT INTO blocks VALUES (?, ?, ?, ?)", (number, block_hash, header, first_log)
        )

    def put_txs(self, rows: Iterable[TxRow]) -> None:
        self.db.executemany(
            "INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    r.hash,
                    r.block,
                    r.idx,
                    r.sender,
                    r.raw,
                    r.status,
                    r.gas_used,
                    r.cumulative_gas,
                    r.contract,
                    r.first_log,
                    r.log_count,
                    r.output,
                    r.bloom,
                )
                for r in rows
            ),
        )

    def put_logs(self, rows: Iterable[LogRow]) -> None:
        def flat(r: LogRow) -> tuple[object, ...]:
            t = [*r.topics, None, None, None, None][:4]
            return (r.id, r.block, r.tx_idx, r.address, t[0], t[1], t[2], t[3], r.data)

        self.db.executemany("INSERT INTO logs VALUES (?,?,?,?,?,?,?,?,?)", map(flat, rows))

    def head_number(self) -> int:
        row = self.db.execute("SELECT MAX(number) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def header(self, number: int) -> bytes | None:
        row = self.db.execute("SELECT header FROM blocks WHERE number=?", (number,)).fetchone()
        return None if row is None else bytes(row[0])

    def block_number_of(self, block_hash: bytes) -> int | None:
        row = self.db.execute("SELECT number FROM blocks WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else int(row[0])

    def next_log_id(self) -> int:
        row = self.db.execute("SELECT MAX(id) FROM logs").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def block_first_log(self, number: int) -> int:
        row = self.db.execute("SELECT first_log FROM blocks WHERE number=?", (number,)).fetchone()
        return 0 if row is None else int(row[0])

    # -- transactions & logs ---------------------------------------------------------------
    def tx(self, tx_hash: bytes) -> TxRow | None:
        row = self.db.execute("SELECT * FROM txs WHERE hash=?", (tx_hash,)).fetchone()
        return None if row is None else _txrow(row)

    def tx_hash_at(self, block: int, idx: int) -> bytes:
        row = self.db.execute(
            "SELECT hash FROM txs WHERE block=? AND idx=?", (block, idx)
        ).fetchone()
        return b"" if row is None else bytes(row[0])

    def block_txs(self, number: int) -> list[TxRow]:
        rows = self.db.execute("SELECT * FROM txs WHERE block=? ORDER BY idx", (number,))
        return [_txrow(r) for r in rows]

    def txs_from(self, first_block: int) -> Iterator[TxRow]:
        rows = self.db.execute(
            "SELECT * FROM txs WHERE block>=? ORDER BY block, idx", (first_block,)
        )
        return (_txrow(r) for r in rows)

    def logs_range(self, first_id: int, count: int) -> list[LogRow]:
        rows = self.db.execute(
            "SELECT * FROM logs WHERE id>=? AND id<? ORDER BY id", (first_id, first_id + count)
        )
        return [_logrow(r) for r in rows]

    def query_logs(
        self,
        from_block: int,
        to_block: int,
        addresses: list[bytes],
        topics: list[list[bytes] | None],
        limit: int,
    ) -> list[LogRow]:
        """Indexed filter, never a chain scan.

        One clause drives the lookup through its index: the most selective kind first
        (topics 1-3 usually hold ids and addresses, then the emitting address, then topic 0,
        the event signature). The others are written ``+col`` so SQLite only checks them on
        the rows found; the block range becomes a rowid range (log ids grow with blocks).
        """
        clauses: list[tuple[str, list[bytes]]] = []
        for i in (1, 2, 3):
            if i < len(topics) and topics[i]:
                clauses.append((f"t{i}", topics[i] or []))
        if addresses:
            clauses.append(("address", addresses))
        if topics and topics[0]:
            clauses.append(("t0", topics[0] or []))
        lo = self.block_first_log(from_block) if from_block > 0 else 0
        hi_row = self.db.execute(
            "SELECT first_log FROM blocks WHERE number > ? ORDER BY number LIMIT 1", (to_block,)
        ).fetchone()
        hi = int(hi_row[0]) if hi_row is not None else self.next_log_id()
        where = ["id >= ? AND id < ?"]
        args: list[object] = [lo, hi]
        for n, (col, alts) in enumerate(clauses):
            where.append(f"{'' if n == 0 else '+'}{col} IN ({','.join('?' * len(alts))})")
            args.extend(alts)
        sql = f"SELECT * FROM logs WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        args.append(limit + 1)
        self.last_logs_query = (sql, args)  # kept for tests that check the query plan
        return [_logrow(r) for r in self.db.execute(sql, args)]

    # -- checkpoint state ------------------------------------------------------------------
    def save_state(self, changed: StateDelta) -> None:
        for addr, acct in changed.accounts.items():
            if acct.is_empty():
                self.db.execute("DELETE FROM state_account WHERE addr=?", (addr,))
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO state_account VALUES (?,?,?,?)",
                    (addr, str(acct.balance), acct.nonce, acct.code),
                )
        ups, dels = [], []
        for addr, slots in changed.storage.items():
            for slot, value in slots.items():
                key = (addr, slot.to_bytes(32, "big"))
                if value:
                    ups.append((*key, value.to_bytes(32, "big")))
                else:
                    dels.append(key)
        self.db.executemany("INSERT OR REPLACE INTO state_storage VALUES (?,?,?)", ups)
        self.db.executemany("DELETE FROM state_storage WHERE addr=? AND slot=?", dels)

    def load_state(self, digest: int | None = None) -> WorldState:
        """The checkpoint state. With the stored ``digest`` nothing is re-hashed (fast
        restart; the caller checks it against the checkpoint header, and ``node verify``
        recomputes everything)."""
        if digest is None:
            ws = WorldState()
            for addr, bal, nonce, code in self.db.execute("SELECT * FROM state_account"):
                ws.set_account(bytes(addr), Account(int(bal), int(nonce), bytes(code)))
            for addr, slot, value in self.db.execute("SELECT * FROM state_storage"):
                ws.set_slot(bytes(addr), int.from_bytes(slot, "big"), int.from_bytes(value, "big"))
            return ws
        accounts = {
            bytes(a): Account(int(b), int(n), bytes(c))
            for a, b, n, c in self.db.execute("SELECT * FROM state_account")
        }
        storage: dict[bytes, dict[int, int]] = {}
        current: dict[int, int] = {}
        last = b""
        frm = int.from_bytes
        for addr, slot, value in self.db.execute("SELECT * FROM state_storage ORDER BY addr"):
            if addr != last:
                last = bytes(addr)
                current = storage.setdefault(last, {})
            current[frm(slot, "big")] = frm(value, "big")
        return WorldState(accounts, storage, digest)


def _txrow(r: Any) -> TxRow:
    contract = None if r[8] is None else bytes(r[8])
    return TxRow(
        bytes(r[0]),
        int(r[1]),
        int(r[2]),
        bytes(r[3]),
        bytes(r[4]),
        int(r[5]),
        int(r[6]),
        int(r[7]),
        contract,
        int(r[9]),
        int(r[10]),
        bytes(r[11]),
        bytes(r[12]),
    )


def _logrow(r: Any) -> LogRow:
    topics = [bytes(t) for t in r[4:8] if t is not None]
    return LogRow(int(r[0]), int(r[1]), int(r[2]), bytes(r[3]), topics, bytes(r[8]))

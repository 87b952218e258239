"""A node's data directory: the SQLite chain file and its genesis block."""

from __future__ import annotations

from pathlib import Path

from ledger_node.block import Header, receipts_root, transactions_root
from ledger_node.genesis import Genesis
from ledger_node.state import StateDelta, WorldState
from ledger_node.store import Store

DB_FILE = "chain.sqlite3"


def init_data_dir(data_dir: Path, genesis_text: str) -> Header:
    """Create a data directory holding the genesis block; refuse to overwrite one."""
    genesis = Genesis.from_json(genesis_text)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_FILE
    if path.exists():
        raise ValueError(f"{data_dir} already holds a chain")
    store = Store(path)
    try:
        state = genesis.initial_state()
        header = genesis_header(genesis, state)
        store.begin()
        store.set_meta("genesis", genesis_text.encode())
        store.set_meta("checkpoint", b"0")
        store.put_block(0, header.hash, header.encode(), 0)
        store.save_state(_as_delta(state))
        store.set_meta("state_digest", state.digest.to_bytes(32, "big"))
        store.commit()
        return header
    finally:
        store.close()


def genesis_header(genesis: Genesis, state: WorldState) -> Header:
    return Header(
        bytes(32),
        0,
        genesis.timestamp,
        bytes(20),
        state.commitment(),
        transactions_root([]),
        receipts_root([]),
        bytes(256),
        genesis.block_gas_limit,
        0,
    )


def _as_delta(state: WorldState) -> StateDelta:
    return StateDelta(dict(state.accounts), {a: dict(s) for a, s in state.storage.items()})

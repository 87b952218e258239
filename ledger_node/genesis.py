"""The genesis file: chain id, founding members and sealers, the registry address, parameters.

Example::

    {"chainId": 7171, "members": ["0xabc..."], "sealers": ["0xabc..."],
     "allianceRegistry": "0x...", "alloc": {"0x...": {"balance": "0x0"}},
     "blockGasLimit": 1000000000, "blockTimeMs": 250, "checkpointInterval": 64,
     "checkpointMaxTxs": 4000,
     "maxBlockTxs": 4000, "timestamp": 1700000000,
     "rpcLimits": {"callGasCap": 30000000, "maxBatch": 1000}}

``rpcLimits`` (optional, any subset) are the JSON-RPC limits every node of the alliance starts
with; each node's start flags override them (``ledger_node/limits.py``). They are node
settings, not consensus rules.

Permissioning: until code exists at ``allianceRegistry`` the genesis ``members`` may send
transactions; from then on the registry's ``isMember(address)`` alone decides. The founders
deploy the registry with the genesis members as constructor arguments; its address is
deterministic (the CREATE address of the deployer's nonce), so it can be written here first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger_node.limits import RpcLimits
from ledger_node.state import Account, WorldState


def parse_address(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise ValueError(f"genesis: {what} must be a 0x-prefixed 20-byte address")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ValueError(f"genesis: {what} is not hex") from exc


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"genesis: {what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise ValueError(f"genesis: {what} must be an integer")


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"genesis: {what} must be true or false")
    return value


def _rpc_limits(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("genesis: rpcLimits must be an object")
    # Checked now, so that a typo fails at init and not when a node starts.
    RpcLimits.resolve(value, {}, 2**256)
    return dict(value)


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    members: tuple[bytes, ...]
    sealers: tuple[bytes, ...]
    registry: bytes | None = None
    block_gas_limit: int = 1_000_000_000
    block_time_ms: int = 250
    checkpoint_interval: int = 64
    checkpoint_max_txs: int = 4000
    max_block_txs: int = 4000
    timestamp: int = 0
    alloc: dict[bytes, Account] = field(default_factory=dict)
    alloc_storage: dict[bytes, dict[int, int]] = field(default_factory=dict)
    rpc_limits: dict[str, Any] = field(default_factory=dict)
    # Free gas (the default): no fee is charged, whatever price a transaction names, so a
    # member needs no balance and clients' default fees (a 1-wei tip) go through.
    free_gas: bool = True

    @classmethod
    def from_json(cls, text: str | bytes) -> Genesis:
        try:
            doc: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"genesis: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ValueError("genesis: must be a JSON object")
        members = tuple(parse_address(m, "members[]") for m in doc.get("members", []))
        if not members:
            raise ValueError("genesis: at least one member is required")
        # Without a "sealers" list every member seals (members are already parsed bytes).
        sealers = (
            tuple(parse_address(m, "sealers[]") for m in doc["sealers"])
            if "sealers" in doc
            else members
        )
        reg = doc.get("allianceRegistry")
        alloc: dict[bytes, Account] = {}
        storage: dict[bytes, dict[int, int]] = {}
        for addr_s, spec in (doc.get("alloc") or {}).items():
            addr = parse_address(addr_s, "alloc key")
            code = bytes.fromhex(str(spec.get("code", "0x"))[2:])
            alloc[addr] = Account(
                _int(spec.get("balance", 0), "balance"), _int(spec.get("nonce", 0), "nonce"), code
            )
            slots = {
                _int(k, "slot"): _int(v, "value") for k, v in (spec.get("storage") or {}).items()
            }
            if slots:
                storage[addr] = slots
        g = cls(
            chain_id=_int(doc.get("chainId", 7171), "chainId"),
            members=members,
            sealers=sealers,
            registry=None if reg in (None, "") else parse_address(reg, "allianceRegistry"),
            block_gas_limit=_int(doc.get("blockGasLimit", 1_000_000_000), "blockGasLimit"),
            block_time_ms=_int(doc.get("blockTimeMs", 250), "blockTimeMs"),
            checkpoint_interval=_int(doc.get("checkpointInterval", 64), "checkpointInterval"),
            checkpoint_max_txs=_int(doc.get("checkpointMaxTxs", 4000), "checkpointMaxTxs"),
            max_block_txs=_int(doc.get("maxBlockTxs", 4000), "maxBlockTxs"),
            timestamp=_int(doc.get("timestamp", 0), "timestamp"),
            alloc=alloc,
            alloc_storage=storage,
            rpc_limits=_rpc_limits(doc.get("rpcLimits")),
            free_gas=_bool(doc.get("freeGas", True), "freeGas"),
        )
        if (
            min(g.checkpoint_interval, g.checkpoint_max_txs, g.max_block_txs) < 1
            or g.block_time_ms < 0
        ):
            raise ValueError("genesis: checkpointInterval/maxBlockTxs must be >= 1")
        return g

    def is_checkpoint(self, number: int, txs_since_checkpoint: int) -> bool:
        """Protocol rule: the engine restarts cold after this block. Every ``checkpointInterval``
        blocks, or earlier once ``checkpointMaxTxs`` transactions ran since the last one (this
        bounds the replay on restart)."""
        return (
            number % self.checkpoint_interval == 0
            or txs_since_checkpoint >= self.checkpoint_max_txs
        )

    def initial_state(self) -> WorldState:
        ws = WorldState()
        for addr, acct in self.alloc.items():
            ws.set_account(addr, acct)
        for addr, slots in self.alloc_storage.items():
            for slot, value in slots.items():
                ws.set_slot(addr, slot, value)
        return ws

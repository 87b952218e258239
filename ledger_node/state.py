"""The world state held at checkpoints, with an incremental commitment.

pyrevm computes no state root, so the node commits to the state with a multiset hash: the sum
(mod 2**256) of keccak over every account and every non-zero storage slot. It updates in
O(changes) at each checkpoint instead of re-hashing the whole state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger_node.txcodec import keccak

MOD = 2**256
EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True)
class Account:
    balance: int
    nonce: int
    code: bytes = b""

    def is_empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0 and not self.code


@dataclass
class StateDelta:
    """Accounts and slots touched since the engine started cold (new values)."""

    accounts: dict[bytes, Account] = field(default_factory=dict)
    storage: dict[bytes, dict[int, int]] = field(default_factory=dict)


def _account_hash(addr: bytes, acct: Account) -> int:
    body = b"A" + addr + acct.balance.to_bytes(32, "big") + acct.nonce.to_bytes(8, "big")
    return int.from_bytes(keccak(body + keccak(acct.code)), "big")


def _slot_hash(addr: bytes, slot: int, value: int) -> int:
    body = b"S" + addr + slot.to_bytes(32, "big") + value.to_bytes(32, "big")
    return int.from_bytes(keccak(body), "big")


@dataclass
class WorldState:
    accounts: dict[bytes, Account] = field(default_factory=dict)
    storage: dict[bytes, dict[int, int]] = field(default_factory=dict)
    digest: int = 0

    def commitment(self) -> bytes:
        return keccak(b"alliance-state" + self.digest.to_bytes(32, "big"))

    def set_account(self, addr: bytes, acct: Account) -> bool:
        old = self.accounts.get(addr)
        if old == acct or (old is None and acct.is_empty()):
            return False
        if old is not None:
            self.digest = (self.digest - _account_hash(addr, old)) % MOD
        if acct.is_empty() and not self.storage.get(addr):
            self.accounts.pop(addr, None)
        else:
            self.accounts[addr] = acct
            self.digest = (self.digest + _account_hash(addr, acct)) % MOD
        return True

    def set_slot(self, addr: bytes, slot: int, value: int) -> bool:
        slots = self.storage.setdefault(addr, {})
        old = slots.get(slot, 0)
        if old == value:
            return False
        if old:
            self.digest = (self.digest - _slot_hash(addr, slot, old)) % MOD
        if value:
            slots[slot] = value
            self.digest = (self.digest + _slot_hash(addr, slot, value)) % MOD
        else:
            del slots[slot]
        return True

    def apply(self, delta: StateDelta) -> StateDelta:
        """Apply ``delta``; return only what actually changed (for the store)."""
        changed = StateDelta()
        for addr, slots in delta.storage.items():
            for slot, value in slots.items():
                if self.set_slot(addr, slot, value):
                    changed.storage.setdefault(addr, {})[slot] = value
        for addr, acct in delta.accounts.items():
            if self.set_account(addr, acct):
                changed.accounts[addr] = acct
        return changed

"""Who may send transactions: the on-chain AllianceRegistry, or the genesis members before it."""

from __future__ import annotations

from ledger_node.abc import ExecutionEngine, Message
from ledger_node.refusal import Refusal
from ledger_node.txcodec import keccak

IS_MEMBER = keccak(b"isMember(address)")[:4]


class NotAMember(ValueError):
    """The sender is not an admitted alliance member."""

    reason = Refusal.NOT_MEMBER


class Permissions:
    def __init__(self, members: tuple[bytes, ...], registry: bytes | None) -> None:
        self.genesis_members = frozenset(members)
        self.registry = registry
        self._cache: dict[bytes, bool] = {}

    def new_block(self) -> None:
        """Membership can change with any block: forget cached answers."""
        self._cache.clear()

    def registry_live(self, engine: ExecutionEngine) -> bool:
        return self.registry is not None and bool(engine.account(self.registry).code)

    def admits(self, engine: ExecutionEngine, sender: bytes) -> bool:
        hit = self._cache.get(sender)
        if hit is not None:
            return hit
        if self.registry_live(engine):
            assert self.registry is not None
            data = IS_MEMBER + bytes(12) + sender
            out = engine.call(Message(bytes(20), self.registry, data, gas=1_000_000))
            ok = (
                out.success
                and len(out.output) >= 32
                and int.from_bytes(out.output[:32], "big") != 0
            )
        else:
            ok = sender in self.genesis_members
        self._cache[sender] = ok
        return ok

"""The execution engine interface: the node talks to the EVM only through this.

Implementations: ``ledger_node.engine_revm.RevmEngine`` (the node's engine). Tests check it
against py-evm, an independent EVM.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from ledger_node.state import Account, StateDelta, WorldState


@dataclass(frozen=True)
class BlockContext:
    number: int
    timestamp: int
    coinbase: bytes
    gas_limit: int


@dataclass(frozen=True)
class Message:
    sender: bytes
    to: bytes | None
    data: bytes
    value: int = 0
    gas: int = 30_000_000
    gas_price: int = 0
    nonce: int = 0
    intrinsic_gas: int = 21_000


@dataclass(frozen=True)
class LogEntry:
    address: bytes
    topics: list[bytes]
    data: bytes


@dataclass
class Outcome:
    success: bool
    gas_used: int
    output: bytes = b""
    logs: list[LogEntry] = field(default_factory=list)
    contract_address: bytes | None = None
    error: str | None = None  # "revert", "halt: ...", or a validation failure


class ExecutionEngine(ABC):
    """A deterministic EVM: same starting state + same messages => same outcomes."""

    @abstractmethod
    def begin_block(self, ctx: BlockContext) -> None: ...

    @abstractmethod
    def execute(self, msg: Message) -> Outcome:
        """Apply a transaction: bumps the sender's nonce and charges its fee even on failure."""

    @abstractmethod
    def call(self, msg: Message) -> Outcome:
        """Run a message against the current state and change nothing (eth_call)."""

    @abstractmethod
    def estimate_gas_steps(self, msg: Message) -> Generator[None, None, Outcome]:
        """``estimate_gas``, pausing (``yield``) between its executions so that a caller can
        run other work in between; the outcome is the generator's return value."""

    def estimate_gas(self, msg: Message) -> Outcome:
        """Smallest gas limit under which ``msg`` succeeds (``gas_used`` holds it)."""
        steps = self.estimate_gas_steps(msg)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                outcome: Outcome = stop.value
                return outcome

    @abstractmethod
    def account(self, addr: bytes) -> Account: ...

    @abstractmethod
    def storage_at(self, addr: bytes, slot: int) -> int: ...

    @abstractmethod
    def touched(self) -> StateDelta:
        """Every account and slot written since the engine started or ``mark_checkpoint``."""

    @abstractmethod
    def mark_checkpoint(self) -> None:
        """The caller has stored ``touched()`` in a checkpoint: start collecting afresh."""


# How the chain and the verifier get an engine: (chain id, block gas limit, starting state).
EngineFactory = Callable[[int, int, WorldState | None], ExecutionEngine]

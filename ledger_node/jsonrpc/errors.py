"""What a JSON-RPC call can fail with, as types: the endpoint did not answer usably
(``ChainUnavailable``), or it answered an error object (``RpcError``), refined by
``rpc_error`` into a revert or one admission refusal per reason.

``rpc_error`` is the one place that reads a node's error: our node's ``data.reason`` first
(``ledger_node.refusal``), then the JSON-RPC code, and only for nodes that send no reason
(anvil, geth, Besu) the message text, from the table ``FOREIGN_TEXTS``."""

from __future__ import annotations

from typing import Any

from ledger_node.refusal import REJECTED, Refusal

REVERTED = 3  # geth/anvil: execution reverted, data = the revert bytes


class ChainUnavailable(OSError):
    """The JSON-RPC endpoint cannot be reached or did not answer in time."""


class ChainTimeout(ChainUnavailable):
    """No answer within the transport's timeout."""


class BadReply(ChainUnavailable):
    """The endpoint answered, but not with JSON-RPC (an HTTP error status, not JSON, a batch
    reply of the wrong length); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status


class RpcError(ValueError):
    """The node answered a JSON-RPC error object; ``error`` is that object."""

    def __init__(self, error: Any) -> None:
        self.error = error
        fields = error if isinstance(error, dict) else {}
        code = fields.get("code")
        self.code: int | None = code if isinstance(code, int) else None
        self.message = str(fields.get("message") or error)
        self.data: Any = fields.get("data")
        super().__init__(self.message)


class ExecutionReverted(RpcError):
    """eth_call / eth_estimateGas hit a revert; ``data`` is the revert bytes (hex)."""


class TransactionRejected(RpcError):
    """The node refused a transaction outright (not a contract revert)."""


class NonceTooLow(TransactionRejected):
    """The nonce was already used (another client of the same account took it)."""


class NonceTooHigh(TransactionRejected):
    """A nonce gap: an earlier transaction of the sender has not arrived (our node refuses
    gaps; anvil and geth queue them instead)."""


class NotAdmitted(TransactionRejected):
    """The sender is not an alliance member (the node's permissioning)."""


class InsufficientFunds(TransactionRejected):
    """The sender cannot pay gas * price + value."""


class AlreadyKnown(TransactionRejected):
    """The node already holds this very transaction."""


class WrongChain(TransactionRejected):
    """Signed for another chain id."""


class GasLimitRefused(TransactionRejected):
    """Gas below the intrinsic cost or above the block gas limit."""


class ReadOnlyNode(TransactionRejected):
    """This node takes no transactions (a regulator's follower, a node without sealer key)."""


class InvalidTransaction(TransactionRejected):
    """The bytes are not a well-formed signed transaction."""


BY_REASON: dict[str, type[TransactionRejected]] = {
    Refusal.NONCE_TOO_LOW: NonceTooLow,
    Refusal.NONCE_TOO_HIGH: NonceTooHigh,
    Refusal.NOT_MEMBER: NotAdmitted,
    Refusal.INSUFFICIENT_FUNDS: InsufficientFunds,
    Refusal.ALREADY_KNOWN: AlreadyKnown,
    Refusal.WRONG_CHAIN: WrongChain,
    Refusal.GAS_LIMIT: GasLimitRefused,
    Refusal.READ_ONLY: ReadOnlyNode,
    Refusal.INVALID: InvalidTransaction,
}

# The documented fallback for nodes that send no reason: lower-case message fragments of
# anvil, geth and Besu (whose codes differ: -32003, -32000, -3200x), first match wins.
FOREIGN_TEXTS: tuple[tuple[str, type[TransactionRejected]], ...] = (
    ("nonce too low", NonceTooLow),
    ("nonce too high", NonceTooHigh),
    ("insufficient funds", InsufficientFunds),
    ("upfront cost exceeds account balance", InsufficientFunds),  # Besu
    ("already known", AlreadyKnown),
    ("already imported", AlreadyKnown),  # anvil
    ("chain id", WrongChain),
    ("intrinsic gas too low", GasLimitRefused),
    ("exceeds block gas limit", GasLimitRefused),
    ("not authorized", NotAdmitted),  # Besu permissioning
)


def rpc_error(error: Any) -> RpcError:
    """The typed exception for a JSON-RPC error object (not raised: the caller raises it)."""
    data = error.get("data") if isinstance(error, dict) else None
    reason = data.get("reason") if isinstance(data, dict) else None
    if isinstance(reason, str) and reason in BY_REASON:
        return BY_REASON[reason](error)
    plain = RpcError(error)
    if plain.code == REVERTED:
        return ExecutionReverted(error)
    text = plain.message.lower()
    for fragment, kind in FOREIGN_TEXTS:
        if fragment in text:
            return kind(error)
    if plain.code == REJECTED:
        return TransactionRejected(error)
    return plain

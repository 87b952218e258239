"""The client side of JSON-RPC: one transport (``JsonRpc``) and the typed errors a call can
raise. No dependency beyond the stdlib and ``ledger_node.refusal``, so the node's tools and
the sharing API (``sharing_api.chain`` re-exports it) can both use it."""

from ledger_node.jsonrpc.errors import (
    AlreadyKnown,
    BadReply,
    ChainTimeout,
    ChainUnavailable,
    ExecutionReverted,
    GasLimitRefused,
    InsufficientFunds,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    NotAdmitted,
    ReadOnlyNode,
    RpcError,
    TransactionRejected,
    WrongChain,
    rpc_error,
)
from ledger_node.jsonrpc.transport import JsonRpc

__all__ = [
    "AlreadyKnown",
    "BadReply",
    "ChainTimeout",
    "ChainUnavailable",
    "ExecutionReverted",
    "GasLimitRefused",
    "InsufficientFunds",
    "InvalidTransaction",
    "JsonRpc",
    "NonceTooHigh",
    "NonceTooLow",
    "NotAdmitted",
    "ReadOnlyNode",
    "RpcError",
    "TransactionRejected",
    "WrongChain",
    "rpc_error",
]

"""Errors of the chain client: reverts carry the contract's named custom error; the
transport's errors (unreachable, refused at admission, ...) are ``ledger_node.jsonrpc``'s,
re-exported so the API side imports every chain error from here."""

from __future__ import annotations

from typing import Any

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

__all__ = [
    "AlreadyKnown",
    "BadReply",
    "ChainTimeout",
    "ChainUnavailable",
    "ContractRevert",
    "ExecutionReverted",
    "GasLimitRefused",
    "InsufficientFunds",
    "InvalidTransaction",
    "NonceTooHigh",
    "NonceTooLow",
    "NotAdmitted",
    "ReadOnlyNode",
    "RpcError",
    "TransactionRejected",
    "WrongChain",
    "rpc_error",
]


class ContractRevert(ValueError):
    """A contract refused the call; ``name`` is the Solidity custom error (e.g. InvalidNonce)."""

    def __init__(self, name: str, args: dict[str, Any], data: str = "") -> None:
        self.name = name
        self.args_by_name = args
        self.data = data
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"contract reverted: {name}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)

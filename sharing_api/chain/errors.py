"""Errors of the chain client: reverts carry the contract's named custom error."""

from __future__ import annotations

from typing import Any


class ContractRevert(ValueError):
    """A contract refused the call; ``name`` is the Solidity custom error (e.g. InvalidNonce)."""

    def __init__(self, name: str, args: dict[str, Any], data: str = "") -> None:
        self.name = name
        self.args_by_name = args
        self.data = data
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"contract reverted: {name}({shown})")


class ChainUnavailable(OSError):
    """The JSON-RPC endpoint cannot be reached or did not answer in time."""


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class TransactionRejected(ValueError):
    """The node refused a request outright (not a contract revert): e.g. the sender is not
    permitted, lacks funds, or the nonce was taken. ``message`` is the node's own words."""

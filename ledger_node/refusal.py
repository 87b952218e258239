"""Why a transaction was refused at admission: the stable names the node puts in a JSON-RPC
error's ``data`` (``{"reason": "nonce-too-low"}``) and clients map to typed exceptions
(``ledger_node.jsonrpc.errors``). The message stays anvil's words for tools that read text;
the reason is what our own clients branch on."""

from __future__ import annotations

from enum import StrEnum

# EIP-1474 "transaction rejected"; anvil answers admission refusals with it too.
REJECTED = -32003


class Refusal(StrEnum):
    NONCE_TOO_LOW = "nonce-too-low"
    NONCE_TOO_HIGH = "nonce-too-high"
    NOT_MEMBER = "not-a-member"
    INSUFFICIENT_FUNDS = "insufficient-funds"
    ALREADY_KNOWN = "already-known"
    WRONG_CHAIN = "wrong-chain"
    GAS_LIMIT = "gas-limit"  # below intrinsic gas or above the block gas limit
    READ_ONLY = "read-only"  # this node takes no transactions (no sealer key, a follower)
    INVALID = "invalid"  # the bytes do not decode to a signed transaction

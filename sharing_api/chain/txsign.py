"""Signing the access-log transactions by hand (rlp + coincurve): ~10x less CPU than
eth-account's general path, which matters when every fetch sends one. Byte-identical to
eth-account (both use RFC 6979 deterministic nonces): ``tests/contracts/test_txsign.py``."""

from __future__ import annotations

from typing import Any

import rlp
from coincurve import PrivateKey
from eth_utils.crypto import keccak


def _addr(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _data(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))


def sign_transaction(tx: dict[str, Any], key: PrivateKey) -> bytes:
    """Raw signed transaction: EIP-1559 (type 2) if ``maxFeePerGas`` is set, else legacy
    EIP-155. Fields as eth-account takes them: to, data, value, gas, chainId, nonce, fees."""
    to, data = _addr(tx["to"]), _data(tx["data"])
    nonce, gas, value, chain_id = (
        int(tx["nonce"]),
        int(tx["gas"]),
        int(tx["value"]),
        int(tx["chainId"]),
    )
    if "maxFeePerGas" in tx:
        fields: list[Any] = [
            chain_id,
            nonce,
            int(tx["maxPriorityFeePerGas"]),
            int(tx["maxFeePerGas"]),
            gas,
            to,
            value,
            data,
            [],
        ]
        digest = keccak(b"\x02" + rlp.encode(fields))
        sig = key.sign_recoverable(digest, hasher=None)
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        return b"\x02" + bytes(rlp.encode([*fields, v, r, s]))
    fields = [nonce, int(tx["gasPrice"]), gas, to, value, data]
    digest = keccak(rlp.encode([*fields, chain_id, 0, 0]))
    sig = key.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
    return bytes(rlp.encode([*fields, sig[64] + 35 + 2 * chain_id, r, s]))

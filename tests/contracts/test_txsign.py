"""The hand-rolled access-log transaction signer matches eth-account byte for byte."""

from __future__ import annotations

import pytest
from coincurve import PrivateKey
from eth_account import Account

from sharing_api.chain.txsign import sign_transaction

KEY = "0x" + "4c" * 32
BASE = {
    "to": Account.from_key("0x" + "11" * 32).address,
    "data": "0x" + "0123456789" * 7,
    "value": 0,
    "gas": 400_000,
    "chainId": 7171,
}


@pytest.mark.parametrize("nonce", [0, 1, 127, 128, 70_000])
@pytest.mark.parametrize(
    "fees",
    [
        {"gasPrice": 0},
        {"gasPrice": 10**9},
        {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0},
        {"maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9},
    ],
)
def test_matches_eth_account(nonce: int, fees: dict[str, int]) -> None:
    tx = {**BASE, "nonce": nonce, **fees}
    expected = bytes(Account.from_key(KEY).sign_transaction(tx).raw_transaction)
    assert sign_transaction(tx, PrivateKey(bytes.fromhex(KEY[2:]))) == expected
    assert Account.recover_transaction(expected) == Account.from_key(KEY).address

"""Shared helpers for the ledger node tests: a genesis, an in-process chain, signed txs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coincurve import PrivateKey
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from ledger_node.chain import Chain
from ledger_node.datadir import init_data_dir
from tests.support.ledger import DEV_CHAIN_ID, DEV_KEYS

PROBE = json.loads((Path(__file__).parent / "contracts" / "Probe.json").read_text())
MINI_REGISTRY = json.loads((Path(__file__).parent / "contracts" / "MiniRegistry.json").read_text())
SEALER_KEY = PrivateKey(bytes.fromhex("5e" * 32))


def make_chain(
    tmp: Path, interval: int = 4, members: list[str] | None = None, **extra: Any
) -> Chain:
    keys = members or DEV_KEYS[:2]
    from ledger_node.block import address_of

    doc = {
        "chainId": DEV_CHAIN_ID,
        "members": [Account.from_key(k).address for k in keys],
        "sealers": ["0x" + address_of(SEALER_KEY).hex()],
        "checkpointInterval": interval,
        "timestamp": 1_700_000_000,
        **extra,
    }
    if not (tmp / "chain.sqlite3").exists():
        init_data_dir(tmp, json.dumps(doc))
    return Chain(tmp, SEALER_KEY)


def sign(
    key: str,
    nonce: int,
    to: str | None,
    data: bytes,
    gas: int = 3_000_000,
    kind: int = 2,
    chain_id: int = DEV_CHAIN_ID,
    value: int = 0,
) -> bytes:
    tx: dict[str, Any] = {
        "nonce": nonce,
        "gas": gas,
        "data": data,
        "chainId": chain_id,
        "value": value,
    }
    if to is not None:
        tx["to"] = to_checksum_address(to)
    if kind == 2:
        tx.update(maxFeePerGas=0, maxPriorityFeePerGas=0, type=2)
    elif kind == 1:
        tx.update(gasPrice=0, type=1, accessList=[])
    else:
        tx["gasPrice"] = 0
    raw: bytes = Account.sign_transaction(tx, key).raw_transaction
    return raw


def bump_data(n: int, note: bytes = b"hi") -> bytes:
    return function_signature_to_4byte_selector("bump(uint256,bytes)") + encode(
        ["uint256", "bytes"], [n, note]
    )


def make_data(salt: int) -> bytes:
    return function_signature_to_4byte_selector("make(uint256)") + encode(["uint256"], [salt])


def deploy_probe(chain: Chain, key: str, now: float = 1_700_000_001) -> bytes:
    sender = bytes.fromhex(Account.from_key(key).address[2:])
    raw = sign(key, chain.next_nonce(sender), None, bytes.fromhex(PROBE["bytecode"][2:]))
    h = chain.submit(raw)
    chain.produce_block(now=now)
    row = chain.store.tx(h)
    assert row is not None and row.status == 1 and row.contract is not None
    return row.contract

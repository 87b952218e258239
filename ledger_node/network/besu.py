"""Generate a Hyperledger Besu QBFT network for N members: the production path when an
alliance needs Byzantine fault tolerance (etcd's Raft only tolerates crashes).

Output (``alliance network besu-config --members N --out DIR``)::

    DIR/genesis.json                 QBFT genesis: validators in extraData, zero base fee,
                                     Cancun from block 0 (the contracts target cancun)
    DIR/permissions_config.toml      accounts allowlist (alliance members), nodes allowlist
    DIR/member<i>/key                validator node key (hex; keep it secret)
    DIR/member<i>/config.toml        Besu node options: loopback-free p2p/RPC ports, bootnodes
    DIR/network.json                 what was generated: addresses, enodes, ports
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coincurve import PrivateKey

from ledger_node import rlpfast
from ledger_node.block import address_of
from ledger_node.genesis import Genesis

# The conventional BFT mixHash ("ctical byzantine fault tolerance"), required by Besu.
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
EPOCH_LENGTH = 30_000


@dataclass(frozen=True)
class BesuMember:
    name: str
    key: PrivateKey
    host: str
    p2p_port: int
    rpc_port: int

    @property
    def address(self) -> str:
        return "0x" + address_of(self.key).hex()

    @property
    def enode(self) -> str:
        pub = self.key.public_key.format(compressed=False)[1:].hex()
        return f"enode://{pub}@{self.host}:{self.p2p_port}"


def qbft_extra_data(validators: list[bytes]) -> str:
    """RLP([32-byte vanity, [validators], no vote = [], round 0, no seals = []])."""
    blob: bytes = rlpfast.encode([bytes(32), list(validators), [], 0, []])
    return "0x" + blob.hex()


def decode_extra_data(extra: str) -> list[bytes]:
    """Validators from a QBFT genesis extraData; ValueError if it is not that shape."""
    items = rlpfast.decode(bytes.fromhex(extra.removeprefix("0x")))
    if not isinstance(items, list) or len(items) != 5:
        raise ValueError("QBFT extraData must be an RLP list of 5 items")
    vanity, validators, vote, round_, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != 32:
        raise ValueError("extraData vanity must be 32 bytes")
    if not isinstance(validators, list) or not all(
        isinstance(v, bytes) and len(v) == 20 for v in validators
    ):
        raise ValueError("extraData validators must be 20-byte addresses")
    if vote != [] or round_ != b"" or seals != []:
        raise ValueError("a genesis extraData carries no vote, round 0 and no seals")
    return [v for v in validators if isinstance(v, bytes)]


def besu_genesis(
    validators: list[str], chain_id: int, block_period: int, base: Genesis | None
) -> dict[str, Any]:
    alloc: dict[str, Any] = {}
    gas_limit = 1_000_000_000
    timestamp = 0
    if base is not None:
        gas_limit, timestamp = base.block_gas_limit, base.timestamp
        for addr, acct in base.alloc.items():
            entry: dict[str, Any] = {"balance": hex(acct.balance)}
            if acct.nonce:
                entry["nonce"] = hex(acct.nonce)
            if acct.code:
                entry["code"] = "0x" + acct.code.hex()
            slots = base.alloc_storage.get(addr)
            if slots:
                entry["storage"] = {
                    "0x" + k.to_bytes(32, "big").hex(): "0x" + v.to_bytes(32, "big").hex()
                    for k, v in slots.items()
                }
            alloc["0x" + addr.hex()] = entry
    ordered = sorted(validators)
    return {
        "config": {
            "chainId": chain_id,
            "homesteadBlock": 0,
            "eip150Block": 0,
            "eip155Block": 0,
            "eip158Block": 0,
            "byzantiumBlock": 0,
            "constantinopleBlock": 0,
            "petersburgBlock": 0,
            "istanbulBlock": 0,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,  # free gas, like our node: patients never pay
            "contractSizeLimit": 2_147_483_647,
            "qbft": {
                "blockperiodseconds": block_period,
                "epochlength": EPOCH_LENGTH,
                "requesttimeoutseconds": max(4, 2 * block_period),
            },
        },
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": alloc,
        "extraData": qbft_extra_data([bytes.fromhex(v[2:]) for v in ordered]),
    }


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def node_config(m: BesuMember, enodes: list[str]) -> str:
    return "\n".join(
        [
            f"# Besu options for {m.name} (validator {m.address})",
            'data-path="data"',
            'genesis-file="../genesis.json"',
            'node-private-key-file="key"',
            f'p2p-host="{m.host}"',
            f"p2p-port={m.p2p_port}",
            "rpc-http-enabled=true",
            f'rpc-http-host="{m.host}"',
            f"rpc-http-port={m.rpc_port}",
            'rpc-http-api=["ETH","NET","WEB3","QBFT","TXPOOL"]',
            f'host-allowlist=["{m.host}","localhost"]',
            "min-gas-price=0",
            'sync-mode="FULL"',
            f"bootnodes={_toml_list([e for e in enodes if not e.endswith(f':{m.p2p_port}')])}",
            "permissions-accounts-config-file-enabled=true",
            "permissions-nodes-config-file-enabled=true",
            'permissions-accounts-config-file="../permissions_config.toml"',
            'permissions-nodes-config-file="../permissions_config.toml"',
            "",
        ]
    )


def write_besu_network(
    out: Path,
    members: int,
    chain_id: int = 7171,
    block_period: int = 2,
    base: Genesis | None = None,
    host: str = "127.0.0.1",
    p2p_base: int = 30303,
    rpc_base: int = 8545,
) -> list[BesuMember]:
    if members < 4:
        # QBFT tolerates f faulty validators out of 3f + 1: fewer than 4 tolerates none.
        raise ValueError("QBFT needs at least 4 validators to tolerate one Byzantine member")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    ms = [
        BesuMember(f"member{i}", PrivateKey(), host, p2p_base + i, rpc_base + i)
        for i in range(members)
    ]
    enodes = [m.enode for m in ms]
    genesis = besu_genesis([m.address for m in ms], chain_id, block_period, base)
    (out / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    accounts = [m.address for m in ms]
    if base is not None:
        accounts += ["0x" + a.hex() for a in base.members]
    perms = (
        f"accounts-allowlist={_toml_list(sorted(set(accounts)))}\n"
        f"nodes-allowlist={_toml_list(enodes)}\n"
    )
    (out / "permissions_config.toml").write_text(perms)
    for m in ms:
        d = out / m.name
        d.mkdir()
        (d / "key").write_text("0x" + m.key.secret.hex() + "\n")
        (d / "key").chmod(0o600)
        (d / "config.toml").write_text(node_config(m, enodes))
    summary = {
        "chainId": chain_id,
        "validators": [
            {
                "name": m.name,
                "address": m.address,
                "enode": m.enode,
                "rpc": f"http://{host}:{m.rpc_port}",
            }
            for m in ms
        ],
    }
    (out / "network.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ms

"""`alliance network besu-config`: the generated QBFT network is valid as far as checkable here
(no Besu installs from the registries available): extraData against Besu's documented
encoding, keys <-> validators <-> enodes, TOML that parses and points at real files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from coincurve import PrivateKey
from eth_account import Account

from ledger_node.block import address_of
from ledger_node.network.besu import BFT_MIX_HASH, decode_extra_data, qbft_extra_data
from sharing_api.cli.main import main

# The 4-validator QBFT genesis extraData from Besu's documentation (QBFT consensus page).
BESU_DOC_VALIDATORS = [
    "64a702e6263b7297a96638cac6ae65e6541f4169",
    "3923390ad55e90c237593b3b0e401f3b08a03185",
    "aefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "c7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOC_EXTRA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f85494"
    "64a702e6263b7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a03185"
    "94aefdb9a738c9f433e5b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78"
    "c080c0"
)


def test_extra_data_matches_besu_documentation() -> None:
    validators = [bytes.fromhex(v) for v in BESU_DOC_VALIDATORS]
    assert qbft_extra_data(validators) == BESU_DOC_EXTRA
    assert decode_extra_data(BESU_DOC_EXTRA) == validators
    with pytest.raises(ValueError):
        decode_extra_data("0x" + BESU_DOC_EXTRA[2:-6] + "c001c0")  # a round != 0


def test_besu_config_generates_a_consistent_network(tmp_path: Path) -> None:
    patient_free_member = Account.from_key("0x" + "42" * 32).address
    ours = {
        "chainId": 8282,
        "members": [patient_free_member],
        "sealers": [patient_free_member],
        "blockGasLimit": 500_000_000,
        "alloc": {patient_free_member: {"balance": "0x10", "storage": {"0x1": "0x2"}}},
    }
    gfile = tmp_path / "ours.json"
    gfile.write_text(json.dumps(ours))
    out = tmp_path / "besu"
    assert (
        main(
            ["network", "besu-config", "--members", "5", "--out", str(out), "--genesis", str(gfile)]
        )
        == 0
    )

    genesis = json.loads((out / "genesis.json").read_text())
    cfg = genesis["config"]
    assert cfg["chainId"] == 8282 and cfg["zeroBaseFee"] is True and cfg["cancunTime"] == 0
    assert cfg["qbft"]["blockperiodseconds"] == 2 and cfg["qbft"]["epochlength"] > 0
    assert cfg["qbft"]["requesttimeoutseconds"] > cfg["qbft"]["blockperiodseconds"]
    assert genesis["mixHash"] == BFT_MIX_HASH and genesis["difficulty"] == "0x1"
    assert int(genesis["gasLimit"], 16) == 500_000_000
    alloc = genesis["alloc"][patient_free_member.lower()]
    assert alloc["balance"] == "0x10" and alloc["storage"] == {
        "0x" + (1).to_bytes(32, "big").hex(): "0x" + (2).to_bytes(32, "big").hex()
    }

    validators = decode_extra_data(genesis["extraData"])
    perms = tomllib.loads((out / "permissions_config.toml").read_text())
    members = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(members) == 5
    keys = [PrivateKey(bytes.fromhex((d / "key").read_text().strip()[2:])) for d in members]
    assert sorted(validators) == sorted(address_of(k) for k in keys)
    assert validators == sorted(validators)
    ports = set()
    for d, key in zip(members, keys, strict=True):
        conf = tomllib.loads((d / "config.toml").read_text())
        for ref in ("genesis-file", "node-private-key-file", "permissions-accounts-config-file"):
            assert (d / conf[ref]).resolve().exists(), (d, ref)
        assert conf["min-gas-price"] == 0 and "ETH" in conf["rpc-http-api"]
        enode = f"enode://{key.public_key.format(compressed=False)[1:].hex()}@127.0.0.1:{conf['p2p-port']}"
        assert enode in perms["nodes-allowlist"] and enode not in conf["bootnodes"]
        assert len(conf["bootnodes"]) == 4
        ports |= {conf["p2p-port"], conf["rpc-http-port"]}
        assert (d / "key").stat().st_mode & 0o077 == 0
    assert len(ports) == 10
    allowed = set(perms["accounts-allowlist"])
    assert patient_free_member.lower() in allowed
    assert {"0x" + v.hex() for v in validators} <= allowed


def test_besu_config_refuses_too_few_validators_and_a_used_directory(tmp_path: Path) -> None:
    assert main(["network", "besu-config", "--members", "3", "--out", str(tmp_path / "a")]) == 1
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    assert main(["network", "besu-config", "--members", "4", "--out", str(tmp_path / "b")]) == 1

"""Free gas with clients' default fee settings: Foundry's `cast send` and ethers v6.

Members hold no balance. `cast send` with its defaults asks for a 1-wei tip (before free gas
it was refused: "insufficient funds for gas * price + value"); ethers sends what its fee
data says, or a 1-gwei tip in mainnet-style code. All of it goes through and nobody pays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from tests.ledger_node.helpers import PROBE
from tests.support.anvil import foundry_binary
from tests.support.ledger import NodeProcess, running_node

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
SINK = "0x" + "11" * 20


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    with running_node(block_time_ms=20) as n:
        yield n


def balance(node: NodeProcess, key: str) -> int:
    return int(node.rpc("eth_getBalance", [Account.from_key(key).address, "latest"]), 16)


def cast(*args: str) -> str:
    binary = foundry_binary("cast")
    if binary is None:
        pytest.skip("cast not installed (npm @foundry-rs/cast; run `make setup`)")
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_fee_answers_are_zero_and_well_formed(node: NodeProcess) -> None:
    assert node.rpc("eth_gasPrice") == "0x0"
    assert node.rpc("eth_maxPriorityFeePerGas") == "0x0"
    hist = node.rpc("eth_feeHistory", ["0x4", "latest", [25, 75]])
    n = len(hist["gasUsedRatio"])
    assert n >= 1 and len(hist["baseFeePerGas"]) == n + 1 and set(hist["baseFeePerGas"]) == {"0x0"}
    assert hist["reward"] == [["0x0", "0x0"]] * n
    assert node.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"] == "0x0"


def test_cast_send_with_its_defaults(node: NodeProcess) -> None:
    key = node.member_keys[0]
    assert balance(node, key) == 0
    sent = json.loads(cast("send", "--json", "--rpc-url", node.url, "--private-key", key, SINK))
    assert sent["status"] == "0x1" and sent["type"] == "0x2"
    tx = node.rpc("eth_getTransactionByHash", [sent["transactionHash"]])
    assert int(tx["maxPriorityFeePerGas"], 16) >= 1  # cast's default tip: not zero
    assert sent["effectiveGasPrice"] == "0x0"  # ... and not charged
    code = PROBE["bytecode"]
    made = json.loads(
        cast("send", "--json", "--rpc-url", node.url, "--private-key", key, "--create", code)
    )
    assert made["status"] == "0x1" and made["contractAddress"]
    bump = ("bump(uint256,bytes)", "7", "0x12")
    called = json.loads(
        cast(
            "send",
            "--json",
            "--rpc-url",
            node.url,
            "--private-key",
            key,
            made["contractAddress"],
            *bump,
        )
    )
    assert called["status"] == "0x1" and len(called["logs"]) == 1
    total = cast("call", "--rpc-url", node.url, made["contractAddress"], "total()(uint256)")
    assert total.strip() == "7"
    assert balance(node, key) == 0
    coinbase = node.rpc("eth_getBlockByNumber", ["latest", False])["miner"]
    assert node.rpc("eth_getBalance", [coinbase, "latest"]) == "0x0"  # no fee reached the sealer


def test_ethers_v6_with_its_defaults(node: NodeProcess) -> None:
    nodejs = shutil.which("node")
    if nodejs is None:
        pytest.skip("node (Node.js) not installed")
    key = node.member_keys[1]
    result = subprocess.run(
        [
            nodejs,
            str(HERE / "ethers_fees.js"),
            node.url,
            key,
            str(HERE / "contracts" / "Probe.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=HERE.parents[1],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["statuses"] == [1, 1, 1]
    assert out["tippedType"] == 2 and out["tippedPrice"] == "0"  # a 1-gwei tip, charged 0
    assert out["total"] == "3" and out["balance"] == "0"
    assert out["feeData"] == {"gasPrice": "0", "maxFeePerGas": "null"}

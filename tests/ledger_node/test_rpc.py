"""The node over HTTP: web3.py deploys and transacts; hostile requests; metrics; SIGKILL."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from tests.support.ledger import DEV_CHAIN_ID, NodeProcess, running_node

from .helpers import PROBE, bump_data, sign

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    with running_node() as n:
        yield n


def _deploy(w3: Web3, key: str) -> Any:
    acct = Account.from_key(key)
    factory = w3.eth.contract(abi=PROBE["abi"], bytecode=PROBE["bytecode"])
    tx = factory.constructor().build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
    )
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=PROBE["abi"])


def test_web3_deploys_transacts_and_reads(node: NodeProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.chain_id == DEV_CHAIN_ID and w3.is_connected()
    key = node.member_keys[0]
    acct = Account.from_key(key)
    probe = _deploy(w3, key)
    tx = probe.functions.bump(7, b"note").build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
    )
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)
    events = probe.events.Bumped().process_receipt(receipt)
    assert events[0].args.n == 7 and events[0].args.note == b"note"
    assert probe.functions.total().call() == 7
    assert probe.functions.counts(acct.address).call() == 7
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][0]["hash"] == h  # type: ignore[call-overload]
    assert w3.eth.get_block(block["hash"])["number"] == block["number"]
    assert w3.eth.get_transaction(h)["from"] == acct.address
    logs = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "address": probe.address,
            "topics": [None, "0x" + "00" * 12 + acct.address[2:].lower()],
        }
    )
    assert len(logs) == 1
    assert w3.eth.get_logs({"fromBlock": 0, "topics": [None, None, ["0x" + "00" * 32]]}) == []
    with pytest.raises(ContractCustomError):
        probe.functions.bump(5000, b"").call({"from": acct.address})
    with pytest.raises(ContractLogicError, match="unlucky"):
        probe.functions.bump(13, b"").call({"from": acct.address})
    fees = w3.eth.fee_history(2, "latest", [50])
    assert len(fees["baseFeePerGas"]) == 3
    metrics = httpx.get(node.url.rstrip("/") + "/metrics").text
    assert "alliance_head_height" in metrics and "alliance_pending_pool_size" in metrics


def test_outsiders_are_refused(node: NodeProcess) -> None:
    outsider = "0x" + "66" * 32
    raw = sign(outsider, 0, "0x" + "11" * 20, b"")
    reply = httpx.post(
        node.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        },
    ).json()
    assert (
        reply["error"]["code"] == -32003 and "not an alliance member" in reply["error"]["message"]
    )


def _fingerprint(node: NodeProcess) -> tuple[Any, ...]:
    return (
        node.rpc("eth_blockNumber"),
        node.rpc("eth_getBlockByNumber", ["latest", False])["hash"],
        [
            node.rpc("eth_getTransactionCount", [Account.from_key(k).address, "pending"])
            for k in node.member_keys
        ],
    )


HOSTILE: list[bytes] = [
    b"{bad",
    b"",
    b"null",
    b"[]",
    b"[1, 2]",
    b'{"jsonrpc": "2.0"}',
    b'"x"',
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_nope", "params": []}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [1, 2]}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {}}).encode(),
    json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x02c0"]}
    ).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": ["x"]}).encode(),
    json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"topics": [[1]]}]}
    ).encode(),
    json.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(10_001)]
    ).encode(),
]


def test_hostile_requests_get_errors_and_change_nothing(node: NodeProcess) -> None:
    before = _fingerprint(node)
    key = node.member_keys[1]
    nonce = int(before[2][1], 16)
    bad_txs = [
        sign(key, nonce, "0x" + "11" * 20, b"", chain_id=1),  # wrong chain id
        sign(key, nonce + 5, "0x" + "11" * 20, b""),  # nonce gap
        sign(key, nonce, "0x" + "11" * 20, b"")[:-2] + b"\x01\x02",
    ]  # bad signature
    bodies = HOSTILE + [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_sendRawTransaction",
                "params": ["0x" + t.hex()],
            }
        ).encode()
        for t in bad_txs
    ]
    for body in bodies:
        reply = httpx.post(node.url, content=body, headers={"content-type": "application/json"})
        assert reply.status_code == 200
        doc = reply.json()
        items = doc if isinstance(doc, list) else [doc]
        assert all("error" in it and isinstance(it["error"]["code"], int) for it in items), body[
            :80
        ]
    assert _fingerprint(node) == before


def test_a_huge_log_filter_is_refused_with_a_clear_error(node: NodeProcess) -> None:
    """40,000 addresses (1.8 MB, inside the body limit) once overflowed SQLite's parameter
    limit into an internal error; now a clear invalid-params error, and the node serves on."""
    addresses = [f"0x{i:040x}" for i in range(40_000)]
    topics = [["0x" + "00" * 32] * 600, None, ["0x" + "11" * 32] * 401]
    for flt in ({"fromBlock": "0x0", "address": addresses}, {"fromBlock": "0x0", "topics": topics}):
        reply = httpx.post(
            node.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [flt]},
            timeout=30,
        ).json()
        assert reply["error"]["code"] == -32602, reply
        assert "at most 1000 addresses and topics" in reply["error"]["message"]
    ok = node.rpc("eth_getLogs", [{"fromBlock": "0x0", "address": addresses[:1000]}])
    assert isinstance(ok, list)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(["0x", "0x0", "0xzz", "latest", "0x" + "ab" * 20, "0x" + "ff" * 32]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    [
        "eth_getBalance",
        "eth_call",
        "eth_getLogs",
        "eth_sendRawTransaction",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_estimateGas",
        "eth_getStorageAt",
        "eth_feeHistory",
        "eth_getCode",
        "nope",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(st.tuples(methods, st.lists(json_values, max_size=4)), min_size=1, max_size=25)
)
def test_fuzzed_requests_never_break_the_node(
    node: NodeProcess, calls: list[tuple[str, list[Any]]]
) -> None:
    """Random params for real methods, sent as one batch: only JSON-RPC errors, no crash
    (-32603 would be an unexpected exception), nothing written."""
    before = node.rpc("eth_blockNumber")
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
    ]
    replies = httpx.post(node.url, json=batch, timeout=30).json()
    assert sorted(r["id"] for r in replies) == list(range(len(calls)))
    for r in replies:
        assert "result" in r or r["error"]["code"] != -32603, r
    assert node.rpc("eth_blockNumber") == before


def test_sigkill_under_load_loses_no_acknowledged_tx() -> None:
    with running_node(block_time_ms=20) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        probe = _deploy(w3, node.member_keys[0]).address
        acked: list[str] = []
        for round_ in range(3):
            stop = threading.Event()

            def load(key: str, stop: threading.Event = stop) -> None:
                addr = Account.from_key(key).address
                client = httpx.Client(timeout=10)
                try:
                    nonce = int(node.rpc("eth_getTransactionCount", [addr, "pending"]), 16)
                    while not stop.is_set():
                        raws = [sign(key, nonce + i, probe, bump_data(1)) for i in range(5)]
                        body = [
                            {
                                "jsonrpc": "2.0",
                                "id": i,
                                "method": "eth_sendRawTransaction",
                                "params": ["0x" + r.hex()],
                            }
                            for i, r in enumerate(raws)
                        ]
                        replies = client.post(node.url, json=body).json()
                        acked.extend(r["result"] for r in replies if "result" in r)
                        nonce += 5
                except (httpx.HTTPError, ValueError):
                    return  # the node died mid-request: that answer was never acknowledged
                finally:
                    client.close()

            threads = [threading.Thread(target=load, args=(k,)) for k in node.member_keys[:2]]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.4, 1.2))
            head_before = int(node.rpc("eth_blockNumber"), 16)
            node.kill()
            stop.set()
            for t in threads:
                t.join(10)
            node.rpc_port = 0
            node.start()
            assert int(node.rpc("eth_blockNumber"), 16) >= head_before, f"round {round_}"
        deadline = time.monotonic() + 30
        missing = acked
        while missing and time.monotonic() < deadline:
            missing = [h for h in missing if node.rpc("eth_getTransactionReceipt", [h]) is None]
            time.sleep(0.1)
        assert acked and not missing, f"{len(missing)} acknowledged txs lost of {len(acked)}"
        total = int(node.rpc("eth_call", [{"to": probe, "data": "0x2ddbd13a"}]), 16)
        logs = node.rpc("eth_getLogs", [{"fromBlock": "0x0", "address": probe}])
        assert total == len(logs) >= len(acked)


def test_websocket_subscriptions(node: NodeProcess) -> None:
    import asyncio

    import aiohttp

    key = node.member_keys[2]
    addr = Account.from_key(key).address
    w3 = Web3(Web3.HTTPProvider(node.url))
    probe = _deploy(w3, key).address

    async def run() -> tuple[list[Any], list[Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(node.url.replace("http", "ws", 1)) as ws,
        ):
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
            assert (await ws.receive_json())["result"] == hex(DEV_CHAIN_ID)
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]}
            )
            heads_id = (await ws.receive_json())["result"]
            await ws.send_json(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "eth_subscribe",
                    "params": ["logs", {"address": probe}],
                }
            )
            logs_id = (await ws.receive_json())["result"]
            nonce = int(node.rpc("eth_getTransactionCount", [addr, "pending"]), 16)
            raw = sign(key, nonce, probe, bump_data(3))
            node.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
            heads: list[Any] = []
            logs: list[Any] = []
            while not (heads and logs):
                note = await asyncio.wait_for(ws.receive_json(), 10)
                sub = note["params"]["subscription"]
                assert sub in (heads_id, logs_id)
                (heads if sub == heads_id else logs).append(note["params"]["result"])
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 4, "method": "eth_unsubscribe", "params": [heads_id]}
            )
            reply = await ws.receive_json()
            while "id" not in reply:
                reply = await ws.receive_json()
            assert reply["result"] is True
            return heads, logs

    heads, logs = asyncio.run(run())
    assert "transactions" not in heads[0] and heads[0]["number"].startswith("0x")
    assert logs[0]["address"].lower() == probe.lower() and len(logs[0]["topics"]) == 3


def test_ethers_v6_client(node: NodeProcess) -> None:
    import shutil
    import subprocess
    from pathlib import Path

    nodejs = shutil.which("node")
    if nodejs is None:
        pytest.skip("node (Node.js) not installed")
    here = Path(__file__).parent
    result = subprocess.run(
        [
            nodejs,
            str(here / "ethers_smoke.js"),
            node.url,
            node.member_keys[3],
            str(here / "contracts" / "Probe.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {
        "status": 1,
        "total": "9",
        "logs": 1,
        "revert": "TooBig",
        "blockTxs": 1,
        "chainId": str(DEV_CHAIN_ID),
    }

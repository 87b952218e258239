"""Each JSON-RPC limit, one threat per test: refused with a clear error, nothing executed."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx
import pytest

from tests.support.abuse import (
    KECCAK_BURNER,
    LOG_EMITTER,
    LOG_TOPIC,
    address_of,
    deploy,
    rpc,
    sign_tx,
    wait_receipt,
)
from tests.support.ledger import DEV_CHAIN_ID, NodeProcess

from .conftest import SMALL_LIMITS, member

pytestmark = pytest.mark.integration


def test_a_batch_over_the_cap_is_one_error_and_runs_nothing(default_node: NodeProcess) -> None:
    url, key = default_node.url, member(default_node, 0)
    sender = address_of(key)
    nonce = int(rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16)
    to = bytes.fromhex(sender[2:])
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
         "params": [sign_tx(key, DEV_CHAIN_ID, nonce + i, to, b"", 21_000)]}
        for i in range(1_001)
    ]  # fmt: skip
    reply = httpx.post(url, json=batch, timeout=120).json()
    assert isinstance(reply, dict), "a batch over the cap gets one error, not 1,001 answers"
    assert reply["error"]["code"] == -32600 and "at most 1000" in reply["error"]["message"]
    assert int(rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16) == nonce


def test_eth_call_and_estimate_gas_stop_at_the_gas_cap(default_node: NodeProcess) -> None:
    url = default_node.url
    burner = deploy(url, member(default_node, 1), KECCAK_BURNER, DEV_CHAIN_ID)
    for method in ("eth_call", "eth_estimateGas"):
        started = time.monotonic()
        reply = httpx.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": method,
                "params": [{"to": burner, "gas": hex(1_000_000_000)}],
            },
            timeout=120,
        ).json()
        elapsed = time.monotonic() - started
        assert "gas cap" in reply["error"]["message"] and "30000000" in reply["error"]["message"]
        assert elapsed < 5, f"{method} ran {elapsed:.1f} s: the cap did not bound it"


def _logs(url: str, lo: int, hi: int, address: str) -> dict[str, object]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
            "params": [{"fromBlock": hex(lo), "toBlock": hex(hi), "address": address}]}  # fmt: skip
    reply: dict[str, object] = httpx.post(url, json=body, timeout=60).json()
    return reply


def test_get_logs_block_range_is_capped(limited_node: NodeProcess) -> None:
    url = limited_node.url
    key = member(limited_node, 0)
    emitter = deploy(url, key, LOG_EMITTER, DEV_CHAIN_ID)
    span = SMALL_LIMITS["maxLogsRange"]
    while (head := int(rpc(url, "eth_blockNumber", []), 16)) <= span:  # a chain longer than it
        nonce = int(rpc(url, "eth_getTransactionCount", [address_of(key), "pending"]), 16)
        raw = sign_tx(key, DEV_CHAIN_ID, nonce, bytes(20), b"", 21_000)
        wait_receipt(url, rpc(url, "eth_sendRawTransaction", [raw]))
    assert "result" in _logs(url, max(0, head - span + 1), head, emitter)
    reply = _logs(url, 0, head + span, emitter)
    error = reply.get("error")
    assert isinstance(error, dict), "a range over the cap must be refused"
    assert error["code"] == -32005 and "narrow the range" in error["message"]


def test_get_logs_result_count_is_capped(limited_node: NodeProcess) -> None:
    url, key = limited_node.url, member(limited_node, 1)
    emitter = deploy(url, key, LOG_EMITTER, DEV_CHAIN_ID)
    sender = address_of(key)
    first = int(rpc(url, "eth_blockNumber", []), 16) + 1
    for n in (30, 30):  # 60 logs in two blocks, over the cap of 50
        nonce = int(rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16)
        data = n.to_bytes(32, "big")
        raw = sign_tx(key, DEV_CHAIN_ID, nonce, bytes.fromhex(emitter[2:]), data, 300_000)
        wait_receipt(url, rpc(url, "eth_sendRawTransaction", [raw]))
    head = int(rpc(url, "eth_blockNumber", []), 16)
    reply = _logs(url, first, head, emitter)
    error = reply.get("error")
    assert isinstance(error, dict), f"{SMALL_LIMITS['maxLogs']} logs at most per answer"
    assert error["code"] == -32005 and "more than 50 results" in error["message"]
    # The range it suggests fits under the cap.
    suggested = error["data"]
    assert isinstance(suggested, dict)
    fits = _logs(url, int(suggested["from"], 16), int(suggested["to"], 16), emitter)
    assert isinstance(fits.get("result"), list) and len(fits["result"]) == 30  # type: ignore[arg-type]
    assert all(entry["topics"] == [LOG_TOPIC] for entry in fits["result"])  # type: ignore[attr-defined]


def test_a_request_body_over_the_cap_is_refused(default_node: NodeProcess) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * (6 << 20) + b'"]}'
    reply = httpx.post(
        default_node.url, content=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert reply.status_code == 413


def test_connections_per_client_address_are_capped(limited_node: NodeProcess) -> None:
    cap = SMALL_LIMITS["maxConnectionsPerClient"]
    ws_url = limited_node.url.replace("http", "ws", 1)

    async def run() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(ws_url) for _ in range(cap)]
            try:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(ws_url)
                async with session.post(limited_node.url, json={"jsonrpc": "2.0", "id": 1,
                                        "method": "eth_chainId"}) as http:  # fmt: skip
                    http_status = http.status
            finally:
                for ws in sockets:
                    await ws.close()
            return refused.value.status, http_status

    ws_status, http_status = asyncio.run(run())
    assert ws_status == 429 and http_status == 429
    assert rpc(limited_node.url, "eth_chainId", []) == hex(DEV_CHAIN_ID)  # freed on close


def test_subscriptions_per_client_address_are_capped(limited_node: NodeProcess) -> None:
    cap = SMALL_LIMITS["maxSubscriptionsPerClient"]
    ws_url = limited_node.url.replace("http", "ws", 1)
    sub = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}

    async def run() -> list[dict[str, object]]:
        replies = []
        async with aiohttp.ClientSession() as session:
            # Spread over two sockets: the cap is per client address, not per socket.
            a, b = await session.ws_connect(ws_url), await session.ws_connect(ws_url)
            for i in range(cap + 1):
                ws = a if i % 2 else b
                await ws.send_json(sub)
                replies.append(await ws.receive_json(timeout=10))
            await a.close()
            await b.close()
        return replies

    replies = asyncio.run(run())
    assert all("result" in r for r in replies[:cap])
    error = replies[cap].get("error")
    assert isinstance(error, dict) and error["code"] == -32005
    assert "too many subscriptions" in str(error["message"])

"""Same requests to this node and to anvil: field names, types and hex encodings match."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.anvil_min import anvil, anvil_path
from tests.support.ledger import DEV_CHAIN_ID, running_node

from .helpers import PROBE, bump_data, sign

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(anvil_path() is None, reason="anvil binary not installed (npm install)"),
]


def shape(value: Any) -> Any:
    """The JSON shape: keys, nesting, and for strings whether they are hex (and how long)."""
    if isinstance(value, dict):
        # extraData is variable-length data (here it carries half of the block seal).
        return {k: "data" if k == "extraData" else shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str) and value.startswith("0x"):
        body = value[2:]
        # Fixed-width data (hashes, addresses, blooms) keeps its width; quantities do not.
        return f"hex{len(body)}" if len(body) in (16, 40, 64, 512) else "quantity-or-data"
    return type(value).__name__


class Client:
    def __init__(self, url: str) -> None:
        self.url = url

    def raw(self, method: str, params: list[Any]) -> dict[str, Any]:
        reply: dict[str, Any] = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        return reply

    def __call__(self, method: str, *params: Any) -> Any:
        reply = self.raw(method, list(params))
        assert "error" not in reply, (method, reply)
        return reply["result"]

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(200):
            r = self("eth_getTransactionReceipt", tx_hash)
            if r is not None:
                return r  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise TimeoutError(tx_hash)


def exercise(c: Client, key: str) -> dict[str, Any]:
    """Deploy, transact (success + revert), then ask every read method once."""
    out: dict[str, Any] = {}
    deploy = sign(key, 0, None, bytes.fromhex(PROBE["bytecode"][2:]), gas=2_000_000)
    out["deploy_receipt"] = rc = c.receipt(c("eth_sendRawTransaction", "0x" + deploy.hex()))
    probe = rc["contractAddress"]
    ok = sign(key, 1, probe, bump_data(7), gas=200_000, kind=2)
    legacy = sign(key, 2, probe, bump_data(8), gas=200_000, kind=0)
    bad = sign(key, 3, probe, bump_data(5000), gas=200_000, kind=1)
    hashes = [c("eth_sendRawTransaction", "0x" + t.hex()) for t in (ok, legacy, bad)]
    receipts = [c.receipt(h) for h in hashes]
    out["receipt_1559"], out["receipt_legacy"], out["receipt_reverted"] = receipts
    assert [r["status"] for r in receipts] == ["0x1", "0x1", "0x0"]
    for name, h in zip(("tx_1559", "tx_legacy", "tx_2930"), hashes, strict=True):
        out[name] = c("eth_getTransactionByHash", h)
    n = receipts[0]["blockNumber"]
    out["block"] = c("eth_getBlockByNumber", n, False)
    out["block_full"] = c("eth_getBlockByNumber", n, True)
    out["block_by_hash"] = c("eth_getBlockByHash", out["block"]["hash"], False)
    sender = out["tx_1559"]["from"]
    for m, p in [
        ("eth_chainId", []),
        ("net_version", []),
        ("eth_blockNumber", []),
        ("eth_gasPrice", []),
        ("eth_maxPriorityFeePerGas", []),
        ("eth_getTransactionCount", [sender, "latest"]),
        ("eth_getTransactionCount", [sender, "pending"]),
        ("eth_getBalance", [sender, "latest"]),
        ("eth_getCode", [probe, "latest"]),
        ("eth_getStorageAt", [probe, "0x1", "latest"]),
        ("eth_call", [{"to": probe, "data": "0x2ddbd13a"}, "latest"]),
        ("eth_estimateGas", [{"from": sender, "to": probe, "data": "0x" + bump_data(1).hex()}]),
        ("eth_feeHistory", ["0x2", "latest", [50]]),
        ("eth_getLogs", [{"fromBlock": "0x0", "address": probe}]),
        ("eth_getTransactionByHash", ["0x" + "00" * 32]),
        ("eth_getBlockByNumber", ["0xffffff", False]),
    ]:
        out[f"{m}{p[1:2]}"] = c(m, *p)
    out["err_revert"] = c.raw(
        "eth_call", [{"to": probe, "data": "0x" + bump_data(5000).hex()}, "latest"]
    )
    out["err_unknown"] = c.raw("eth_noSuchMethod", [])
    out["err_badtx"] = c.raw("eth_sendRawTransaction", ["0x1234"])
    return out


def test_same_requests_same_shapes() -> None:
    with running_node(block_time_ms=20) as node, anvil(chain_id=DEV_CHAIN_ID) as anvil_url:
        ours = exercise(Client(node.url), node.member_keys[0])
        theirs = exercise(Client(anvil_url), node.member_keys[0])
    assert ours["deploy_receipt"]["contractAddress"] == theirs["deploy_receipt"]["contractAddress"]
    assert ours["eth_call['latest']"] == theirs["eth_call['latest']"]  # same state: total 15
    assert ours["eth_getStorageAt['0x1']"] == theirs["eth_getStorageAt['0x1']"]
    assert ours["eth_getCode['latest']"] == theirs["eth_getCode['latest']"]
    for key in ("err_revert", "err_unknown", "err_badtx"):
        assert ours[key]["error"]["code"] == theirs[key]["error"]["code"], key
    assert ours["err_revert"]["error"]["data"] == theirs["err_revert"]["error"]["data"]
    mismatches = [
        f"{k}: {diff(shape(ours[k]), shape(theirs[k]))}"
        for k in ours
        if k not in ("err_revert", "err_unknown", "err_badtx")
        and shape(ours[k]) != shape(theirs[k])
    ]
    assert not mismatches, "\n".join(mismatches)


def diff(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = {k: diff(a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
        return out
    if isinstance(a, list) and isinstance(b, list) and a and b:
        return [diff(a[0], b[0])]
    return (a, b)

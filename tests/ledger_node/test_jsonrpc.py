"""The one JSON-RPC transport (``ledger_node.jsonrpc``) against the real node: results, every
kind of failure as its type, batches with mixed results, and each admission refusal as its
typed exception, from our node (by ``data.reason``) and from anvil (by its words)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from eth_account import Account

from ledger_node.jsonrpc import (
    AlreadyKnown,
    BadReply,
    ChainTimeout,
    ChainUnavailable,
    ExecutionReverted,
    GasLimitRefused,
    InsufficientFunds,
    InvalidTransaction,
    JsonRpc,
    NonceTooHigh,
    NonceTooLow,
    NotAdmitted,
    ReadOnlyNode,
    RpcError,
    TransactionRejected,
    WrongChain,
    rpc_error,
)
from tests.support.anvil_min import anvil, anvil_path
from tests.support.ledger import DEV_CHAIN_ID, NodeProcess, running_node

from .helpers import PROBE, bump_data, sign

pytestmark = pytest.mark.integration
TO = "0x" + "11" * 20


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    with running_node(block_time_ms=20) as n:
        yield n


@pytest.fixture(scope="module")
def rpc(node: NodeProcess) -> Iterator[JsonRpc]:
    with JsonRpc(node.url, timeout=5) as transport:
        yield transport


def raw(key: str, nonce: int, **kw: Any) -> str:
    return "0x" + sign(key, nonce, TO, b"", gas=kw.pop("gas", 21_000), **kw).hex()


def next_nonce(rpc: JsonRpc, key: str) -> int:
    address = Account.from_key(key).address
    return int(rpc.call("eth_getTransactionCount", [address, "pending"]), 16)


def mined(rpc: JsonRpc, tx_hash: str) -> dict[str, Any]:
    for _ in range(200):
        receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise TimeoutError(tx_hash)


# ---- the transport -------------------------------------------------------------------------


def test_call_returns_the_result_and_connections_are_per_thread(rpc: JsonRpc) -> None:
    assert int(rpc.call("eth_chainId", []), 16) == DEV_CHAIN_ID
    answers: list[str] = []

    def ask() -> None:
        answers.extend(rpc.call("eth_chainId", []) for _ in range(20))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [hex(DEV_CHAIN_ID)] * 80


def test_error_object_with_code_is_a_typed_exception(rpc: JsonRpc, node: NodeProcess) -> None:
    with pytest.raises(RpcError) as unknown:
        rpc.call("eth_noSuchMethod", [])
    assert type(unknown.value) is RpcError and unknown.value.code == -32601
    key = node.member_keys[0]
    deploy = sign(key, next_nonce(rpc, key), None, bytes.fromhex(PROBE["bytecode"][2:]))
    probe = mined(rpc, rpc.call("eth_sendRawTransaction", ["0x" + deploy.hex()]))
    call = {"to": probe["contractAddress"], "data": "0x" + bump_data(5000).hex()}
    with pytest.raises(ExecutionReverted) as reverted:
        rpc.call("eth_call", [call, "latest"])
    assert reverted.value.code == 3 and str(reverted.value.data).startswith("0x")


def test_batch_gives_each_call_its_result_or_its_error(rpc: JsonRpc, node: NodeProcess) -> None:
    key = node.member_keys[1]
    used = raw(key, next_nonce(rpc, key))
    mined(rpc, rpc.call("eth_sendRawTransaction", [used]))
    out = rpc.batch(
        [
            ("eth_chainId", []),
            ("eth_noSuchMethod", []),
            ("eth_sendRawTransaction", [used]),
            ("eth_getBlockByNumber", ["0xffffff", False]),
        ]
    )
    assert out[0] == hex(DEV_CHAIN_ID)
    assert isinstance(out[1], RpcError) and out[1].code == -32601
    assert isinstance(out[2], NonceTooLow)
    assert out[3] is None
    assert rpc.batch([]) == []


def test_http_error_status_is_a_bad_reply(node: NodeProcess) -> None:
    with JsonRpc(node.url + "/no-such-path", timeout=5) as wrong, pytest.raises(BadReply) as exc:
        wrong.call("eth_chainId", [])
    assert exc.value.status >= 400
    assert isinstance(exc.value, ChainUnavailable)  # the API answers 503 for it


class _NotJson(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"<html>a proxy's error page</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_answer_that_is_not_json_is_a_bad_reply() -> None:
    server = HTTPServer(("127.0.0.1", 0), _NotJson)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with JsonRpc(url, timeout=5) as rpc, pytest.raises(BadReply, match="not JSON"):
            rpc.call("eth_chainId", [])
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_and_timeout(node: NodeProcess) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening
    with JsonRpc(closed, timeout=2) as rpc, pytest.raises(ChainUnavailable, match="unreachable"):
        rpc.call("eth_chainId", [])
    assert node.proc is not None
    with JsonRpc(node.url, timeout=0.5) as rpc:
        assert rpc.call("eth_chainId", [])  # connected, then the node stops answering
        os.killpg(node.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(ChainTimeout):
                rpc.call("eth_chainId", [])
            assert time.monotonic() - started < 3
        finally:
            os.killpg(node.proc.pid, signal.SIGCONT)
        assert int(rpc.call("eth_chainId", []), 16) == DEV_CHAIN_ID  # a fresh connection


# ---- admission refusals, typed -------------------------------------------------------------


def refusals(rpc: JsonRpc, key: str, chain_id: int) -> dict[str, RpcError]:
    """Send one transaction of each refused kind; the typed error of each."""
    nonce = next_nonce(rpc, key)
    mined(rpc, rpc.call("eth_sendRawTransaction", [raw(key, nonce, chain_id=chain_id)]))
    attempts = {
        "nonce too low": [raw(key, nonce, chain_id=chain_id)],
        "nonce too high": [raw(key, nonce + 9, chain_id=chain_id)],
        "insufficient funds": [raw(key, nonce + 1, chain_id=chain_id, value=10**30)],
        "wrong chain": [raw(key, nonce + 1, chain_id=chain_id + 1)],
        "gas": [raw(key, nonce + 1, chain_id=chain_id, gas=20_000)],
        "not a member": [raw("0x" + "77" * 32, 0, chain_id=chain_id)],
        "invalid": ["0x1234"],
    }
    out: dict[str, RpcError] = {}
    for name, (tx,) in attempts.items():
        try:
            rpc.call("eth_sendRawTransaction", [tx])
        except RpcError as exc:
            out[name] = exc
    twice = raw(key, nonce + 1, chain_id=chain_id)  # the same tx twice in one request
    first, again = rpc.batch([("eth_sendRawTransaction", [twice])] * 2)
    assert isinstance(first, str), first
    assert isinstance(again, RpcError), again
    out["twice"] = again
    return out


def test_each_refusal_of_our_node_is_typed_by_its_reason(rpc: JsonRpc, node: NodeProcess) -> None:
    got = refusals(rpc, node.member_keys[2], DEV_CHAIN_ID)
    expected: dict[str, type[TransactionRejected]] = {
        "nonce too low": NonceTooLow,
        "nonce too high": NonceTooHigh,
        "insufficient funds": InsufficientFunds,
        "wrong chain": WrongChain,
        "gas": GasLimitRefused,
        "not a member": NotAdmitted,
        "invalid": InvalidTransaction,
        "twice": AlreadyKnown,
    }
    assert {k: type(v) for k, v in got.items()} == expected
    for name, exc in got.items():  # by the reason, not the words; the code stays anvil's
        assert isinstance(exc.data, dict) and exc.data["reason"], name
        assert exc.code == (-32602 if name == "invalid" else -32003), name
    assert "nonce too low" in str(got["nonce too low"])  # anvil's words, for foreign tools


@pytest.mark.skipif(anvil_path() is None, reason="anvil binary not installed (npm install)")
def test_anvils_refusals_are_typed_by_their_words() -> None:
    key = "0x" + "a1" * 32  # fresh: its first nonce is 0
    with anvil(chain_id=DEV_CHAIN_ID) as url, JsonRpc(url, timeout=10) as rpc:
        got = refusals(rpc, key, DEV_CHAIN_ID)
        # anvil queued the gap (nonce 9) instead of refusing it: sending it again is a repeat.
        with pytest.raises(AlreadyKnown):
            rpc.call("eth_sendRawTransaction", [raw(key, 9, chain_id=DEV_CHAIN_ID)])
    # anvil admits anyone; it mines at once, so the second of a pair may meet a used nonce.
    assert "nonce too high" not in got and "not a member" not in got
    assert isinstance(got.pop("twice"), (AlreadyKnown, NonceTooLow))
    assert {k: type(v) for k, v in got.items() if k != "invalid"} == {
        "nonce too low": NonceTooLow,
        "insufficient funds": InsufficientFunds,
        "wrong chain": WrongChain,
        "gas": GasLimitRefused,
    }
    assert all(v.data is None for v in got.values())  # no reason: the words decided


def test_rpc_error_prefers_the_reason_then_the_code_then_the_words() -> None:
    told = {"code": -32003, "message": "nonce too low", "data": {"reason": "read-only"}}
    assert type(rpc_error(told)) is ReadOnlyNode
    revert = {"code": 3, "message": "execution reverted: insufficient funds", "data": "0x"}
    assert type(rpc_error(revert)) is ExecutionReverted
    besu = {"code": -32004, "message": "Upfront cost exceeds account balance"}
    assert type(rpc_error(besu)) is InsufficientFunds
    assert type(rpc_error({"code": -32003, "message": "something new"})) is TransactionRejected
    assert type(rpc_error({"code": -32000, "message": "header not found"})) is RpcError
    assert type(rpc_error("not an object")) is RpcError

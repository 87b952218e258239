"""The reusable anvil helper: loopback only, pruned history, stopped afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.anvil import AnvilNode, anvil, anvil_binary, anvil_node  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(anvil_binary() is None, reason="anvil not installed (run `make setup`)"),
]


def _chain_id(url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    return int(httpx.post(url, json=body, timeout=5).json()["result"], 16)


def test_session_fixture_serves_json_rpc(anvil: AnvilNode) -> None:  # noqa: F811
    assert anvil.url.startswith("http://127.0.0.1:")
    assert _chain_id(anvil.url) == 31337
    assert len(anvil.keys) == 10


def test_node_runs_on_loopback_with_pruned_history_and_stops() -> None:
    with anvil_node(accounts=2, chain_id=4242) as node:
        assert _chain_id(node.url) == 4242
        cmdline = Path(f"/proc/{node.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--prune-history" in cmdline
        assert cmdline[cmdline.index(b"--host") + 1] == b"127.0.0.1"
    with pytest.raises(ProcessLookupError):
        os.kill(node.pid, 0)
    with pytest.raises(httpx.ConnectError):
        _chain_id(node.url)

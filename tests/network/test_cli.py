"""`alliance network up | status | down` as an operator runs them (separate processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger_node.network.supervisor import LocalNetwork
from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
MEMBERS = 4  # as in the issue: `alliance network up --members 4` (+ the regulator follower)


def alliance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharing_api.cli", "network", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def status_json(root: Path) -> dict[str, Any]:
    out = alliance("status", "--dir", str(root), "--json")
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def settled(root: Path, height: int) -> dict[str, Any] | None:
    """``status`` once a producer holds the role and every node is at ``height`` or above
    with no lag."""
    st = status_json(root)
    nodes = st.get("nodes", [])
    ready = st.get("producer") and all(n["up"] and n.get("height", -1) >= height for n in nodes)
    return st if ready and all(n["lag"] == 0 for n in nodes) else None


def test_up_status_down_and_up_again(tmp_path: Path) -> None:
    root = tmp_path / "net"
    members = [f"node{i}" for i in range(MEMBERS)]
    try:
        started = time.monotonic()
        up = alliance("up", "--members", str(MEMBERS), "--dir", str(root))
        assert up.returncode == 0, up.stderr
        print(f"`network up --members {MEMBERS}`: {time.monotonic() - started:.1f} s")
        assert "producer" in up.stdout and "regulator" in up.stdout
        # out of the box: etcd over TLS (every member on https), auth and roles on
        assert up.stdout.count("https://127.0.0.1:") == 3
        assert LocalNetwork.load(root).auth_on
        again = alliance("up", "--dir", str(root))
        assert again.returncode == 1 and "running" in again.stderr

        # one transfer through a member's node, so that heights and lag mean something
        net = LocalNetwork.load(root)
        key = "0x" + (net.data_dir("node1") / "node.key").read_text().strip()
        raw = sign(key, 0, "0x" + "22" * 20, b"", gas=21_000)
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                "params": ["0x" + raw.hex()]}  # fmt: skip
        assert "result" in httpx.post(net.node("node1").url, json=body, timeout=30).json()
        st = wait_for("every node at height 1 with no lag", lambda: settled(root, 1), 30)
        assert st["producer"] in members
        assert st["height"] >= 1
        assert [n["id"] for n in st["nodes"]] == [*members, "regulator"]
        assert all(n["up"] and n["lag"] == 0 and n["height"] == st["height"] for n in st["nodes"])
        roles = [n["role"] for n in st["nodes"]]
        assert roles.count("producer") == 1 and roles[-1] == "follower"
        assert roles[members.index(st["producer"])] == "producer"
        assert len({n["sealer"] for n in st["nodes"][:-1]}) == MEMBERS
        assert sum(e["leader"] for e in st["etcd"]) == 1 and all(e["up"] for e in st["etcd"])
        text = alliance("status", "--dir", str(root)).stdout  # the table an operator reads
        assert f"producer {st['producer']}" in text
        for n in st["nodes"]:
            row = next(line for line in text.splitlines() if line.startswith(n["id"] + " "))
            assert row.split()[1:5] == [n["role"], "up", str(n["height"]), "0"], row

        stopping = time.monotonic()
        assert alliance("down", "--dir", str(root)).returncode == 0
        print(f"`network down`: {time.monotonic() - stopping:.1f} s")
        down = alliance("status", "--dir", str(root))
        assert down.returncode == 0 and "ordering service unavailable" in down.stdout
        assert all(n.pid is None for n in LocalNetwork.load(root).nodes)

        restarted = alliance("up", "--dir", str(root))  # same ports, same data
        assert restarted.returncode == 0, restarted.stderr
        st2 = wait_for("the same head after restart", lambda: settled(root, st["height"]), 30)
        assert [n["url"] for n in st2["nodes"]] == [n["url"] for n in st["nodes"]]
        print(f"whole test: {time.monotonic() - started:.1f} s")
    finally:
        if (root / "network.json").exists():
            stopping = time.monotonic()
            alliance("down", "--dir", str(root), "--purge")
            print(f"`network down --purge`: {time.monotonic() - stopping:.1f} s")
    assert not root.exists()


def test_status_of_a_missing_network_is_one_clear_error(tmp_path: Path) -> None:
    out = alliance("status", "--dir", str(tmp_path / "none"))
    assert out.returncode == 1 and out.stderr.startswith("error: no network in")

"""`alliance network up | status | down` as an operator runs them (separate processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_node.network.supervisor import LocalNetwork
from tests.support.etcd import requires_etcd

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]


def alliance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharing_api.cli", "network", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_up_status_down_and_up_again(tmp_path: Path) -> None:
    root = tmp_path / "net"
    try:
        up = alliance("up", "--members", "2", "--dir", str(root))
        assert up.returncode == 0, up.stderr
        assert "producer" in up.stdout and "regulator" in up.stdout
        again = alliance("up", "--dir", str(root))
        assert again.returncode == 1 and "running" in again.stderr

        st = json.loads(alliance("status", "--dir", str(root), "--json").stdout)
        assert st["producer"] in ("node0", "node1")
        assert [n["id"] for n in st["nodes"]] == ["node0", "node1", "regulator"]
        assert all(n["up"] and n["lag"] == 0 for n in st["nodes"])
        assert sum(e["leader"] for e in st["etcd"]) == 1

        assert alliance("down", "--dir", str(root)).returncode == 0
        down = alliance("status", "--dir", str(root))
        assert down.returncode == 0 and "ordering service unavailable" in down.stdout
        assert all(n.pid is None for n in LocalNetwork.load(root).nodes)

        restarted = alliance("up", "--dir", str(root))  # same ports, same data
        assert restarted.returncode == 0, restarted.stderr
        st2 = json.loads(alliance("status", "--dir", str(root), "--json").stdout)
        assert [n["url"] for n in st2["nodes"]] == [n["url"] for n in st["nodes"]]
    finally:
        if (root / "network.json").exists():
            alliance("down", "--dir", str(root), "--purge")
    assert not root.exists()


def test_status_of_a_missing_network_is_one_clear_error(tmp_path: Path) -> None:
    out = alliance("status", "--dir", str(tmp_path / "none"))
    assert out.returncode == 1 and out.stderr.startswith("error: no network in")

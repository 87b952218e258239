"""`alliance demo --network 3`: the whole alliance scenario on a replicated local network.

The sharing API talks to one member node that is not producing, so every transaction of the
scenario is forwarded to the producer through etcd; the last step checks that the three
member nodes and the regulator's follower hold the same head, with no alarm, and that the
follower refuses writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sharing_api.cli.main import main
from tests.support.etcd import requires_etcd

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]


def test_demo_runs_on_a_three_member_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workdir", str(tmp_path), "--network", "3"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for expected in (
        "Start a 3-member network (etcd-ordered)",
        "referral 1 xq -> h1 accepted",
        "is refused after the revocation (403)",
        "exported as a FHIR AuditEvent bundle",
        "all 4 nodes (members and the regulator's follower) re-executed every block",
        "no node raised an alarm",
        "refuses writes (read-only follower",
        "Every step behaved",
    ):
        assert expected in out
    state = json.loads((tmp_path / "alliance" / "network" / "network.json").read_text())
    assert [n["id"] for n in state["nodes"]] == ["node0", "node1", "node2", "regulator"]
    assert all(n["pid"] is None for n in state["nodes"])  # everything was stopped

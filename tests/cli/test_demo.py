"""`alliance demo` runs end to end and every step behaves."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sharing_api.cli.main import main


def test_records_part_succeeds_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workdir", str(tmp_path), "--records-only"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "is refused" in out and "reads the bundle" in out
    records = tmp_path / "records"
    assert (records / "record.header").exists() and (records / "record.body").exists()
    assert b"Chest pain" not in (records / "record.body").read_bytes()


def test_records_part_in_the_national_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workdir", str(tmp_path), "--records-only", "--suite", "sm4-gcm"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "cipher suite: sm4-gcm" in out
    assert (tmp_path / "records" / "record.body").read_bytes()[4:6] == b"\x02\x02"


@pytest.mark.integration
def test_full_alliance_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Node, contracts, store and API: referral, reads, revocation, break-glass, audit."""
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for expected in (
        "referral 1 xq -> h1 accepted",
        "dr-chen decrypts the bundle",
        "is refused after the revocation (403)",
        "reads under break-glass",
        "exported as a FHIR AuditEvent bundle",
        "nobody can read it again (410: gone)",
        "two members, two unrelated patient addresses on chain",
        "only the patient's signed disclosure links them",
        "no consultation without the patient's consent for consultation (403)",
        "the radiologist reads the CT on the consultation basis",
        "opens at fx",
        "pj, no party to the consultation, is refused the report (403)",
        "consultation closed: the radiologist's next read is refused (403)",
        "the patient sees the consultation (closed) in the wallet",
        "Every step behaved",
    ):
        assert expected in out
    assert (tmp_path / "alliance" / "deployment.json").exists()


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((parts.hostname or "", parts.port or 0)) == 0


def _ours(marker: str) -> list[int]:
    """Pids of the processes whose command line names ``marker`` (this test's directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.integration
def test_keep_running_serves_until_terminated(tmp_path: Path) -> None:
    """`alliance demo --keep-running`: after the scenario the API answers /health; SIGTERM
    stops it cleanly (exit 0), and the API and the ledger node it started are gone."""
    work = tmp_path / "work"
    env = {**os.environ, "ALLIANCE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sharing_api.cli", "demo", "--keep-running", "--workdir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    assert proc.stdout is not None
    out = ""
    api = node = None
    try:
        deadline = time.monotonic() + 180
        while api is None:
            assert proc.poll() is None, "demo exited early:\n" + out[-3000:]
            assert time.monotonic() < deadline, "API never reported up:\n" + out[-3000:]
            if select.select([proc.stdout], [], [], 1.0)[0]:
                out += os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
                node = re.search(r"^\s+node (http://\S+),", out, re.MULTILINE)
                api = re.search(r"stays up at (https://\S+) ", out)
        assert node is not None, out
        api_url, node_url = api.group(1), node.group(1)
        assert "FAIL" not in out
        # The gateway's certificate is self-signed (its fingerprint is on chain): this only
        # checks that it answers.
        health = httpx.get(f"{api_url}/health", timeout=10, verify=False)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert _port_open(node_url)

        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0].decode(errors="replace")
        assert proc.returncode == 0, out[-2000:] + rest
        assert "Stopping the gateways" in rest and "Every step behaved as expected" in rest
        assert not _port_open(api_url) and not _port_open(node_url)
        assert _ours(str(tmp_path)) == []  # no ledger node (or anything else) left behind
        assert not (tmp_path / "home").exists()  # everything stayed in the work dir
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in _ours(str(tmp_path)):  # only if the test failed: the processes it started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()

"""`alliance demo --storage ipfs|s3`: the demo starts the storage servers itself, every step
behaves on them, and no server outlives the demo (normal exit or SIGTERM mid-run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ipfs import require_jsipfs
from tests.support.seaweed import weed_binary

pytestmark = pytest.mark.integration


def _demo(workdir: Path, storage: str) -> list[str]:
    return [
        sys.executable, "-m", "sharing_api.cli", "demo",
        "--storage", storage, "--workdir", str(workdir),
    ]  # fmt: skip


def _servers_left(marker: str) -> list[str]:
    """Live processes whose command line or environment names ``marker`` (our workdir):
    `weed mini -dir=...` names it in its arguments, js-ipfs in IPFS_PATH."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (marker in cmdline or f"IPFS_PATH={marker}" in environ):
            left.append(f"{entry.name}: {cmdline[:120]}")
    return left


def _require(storage: str) -> None:
    require_jsipfs() if storage == "ipfs" else weed_binary()


@pytest.mark.parametrize("storage", ["ipfs", "s3"])
def test_demo_on_real_stores_exits_0_with_every_step_ok(storage: str, tmp_path: Path) -> None:
    _require(storage)
    work = tmp_path / "work"
    env = {**os.environ, "ALLIANCE_HOME": str(tmp_path / "home")}
    started = time.monotonic()
    done = subprocess.run(
        _demo(work, storage), capture_output=True, text=True, timeout=150, env=env
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAIL" not in done.stdout
    assert "Every step behaved as expected." in done.stdout
    assert "ok   the ciphertext stays in the cloud gateway's store" in done.stdout
    expected = "one js-ipfs daemon per gateway" if storage == "ipfs" else "a bucket per gateway"
    assert expected in done.stdout
    assert took < 120, f"the {storage} demo took {took:.0f} s"
    assert _servers_left(str(work)) == []
    if storage == "s3":  # the S3 secrets went to the gateways' environment, not their files
        for config in (work / "alliance" / "gateways").glob("*/gateway.json"):
            assert "secret" not in config.read_text()


def test_sigterm_mid_run_stops_every_storage_server(tmp_path: Path) -> None:
    _require("ipfs")
    work = tmp_path / "work"
    env = {**os.environ, "ALLIANCE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _demo(work, "ipfs"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    assert proc.stdout is not None
    seen = []
    try:
        for raw in proc.stdout:  # until the daemons and gateways are up
            seen.append(raw.decode(errors="replace"))
            if "[A3]" in seen[-1]:
                break
        assert len(_servers_left(str(work))) >= 4, "".join(seen)  # the four js-ipfs daemons
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0  # interrupted: not a success
    deadline = time.monotonic() + 10
    while _servers_left(str(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_left(str(work)) == []

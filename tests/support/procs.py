"""Small shared pieces for the server helpers: free ports and waiting (to stop a process
group use ``ledger_node.network.procs.stop_group``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ledger_node.network.procs import stop_group

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    """Poll ``ready`` until true; fail early with the log's tail if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.2)
    stop_group(proc)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

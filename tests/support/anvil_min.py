"""A minimal anvil starter for the ledger benchmark and conformance test.

Stop-gap until the contracts branch's ``tests/support/anvil.py`` lands on this branch; it
starts ``anvil`` on 127.0.0.1 (free port, zero base fee, ``--prune-history``) and kills its
process group on exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def anvil_path() -> str | None:
    for c in (
        os.environ.get("ANVIL", ""),
        str(REPO / "node_modules/.bin/anvil"),
        shutil.which("anvil") or "",
    ):
        if c and os.access(c, os.X_OK):
            return c
    return None


@contextmanager
def anvil(chain_id: int = 31337, gas_limit: int | None = None) -> Iterator[str]:
    """``gas_limit`` None keeps anvil's default (30M). A 1e9 limit made anvil grow to ~5 GB
    and stall under the benchmark's batches; stranded transactions are instead mined by
    the benchmark's ``evm_mine`` nudge."""
    binary = anvil_path()
    if binary is None:
        raise FileNotFoundError("anvil not found (npm install puts it in node_modules/.bin)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--prune-history",
            "--silent",
            "--chain-id",
            str(chain_id),
            "--block-base-fee-per-gas",
            "0",
            "--gas-price",
            "0",
            *(["--gas-limit", str(gas_limit)] if gas_limit else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise TimeoutError("anvil did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

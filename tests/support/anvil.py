"""A real anvil node for tests and benchmarks: 127.0.0.1, a free port, stopped after.

``with anvil_node() as node: node.url, node.keys`` — ``keys`` are the private keys of the
funded dev accounts. ``--prune-history`` keeps anvil from leaving ~0.5 GB per run on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger_node.network.procs import free_port

REPO = Path(__file__).resolve().parents[2]
# anvil's well-known development mnemonic: its accounts are funded in every anvil.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def foundry_binary(name: str) -> str | None:
    """A Foundry executable (anvil, cast): $ANVIL/$CAST, the npm package's native binary
    (installed by `make setup`), or the name on PATH."""
    candidates = [
        os.environ.get(name.upper(), ""),
        str(REPO / f"node_modules/@foundry-rs/{name}-linux-amd64/bin/{name}"),
        str(REPO / f"node_modules/.bin/{name}"),
        shutil.which(name) or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def anvil_binary() -> str | None:
    return foundry_binary("anvil")


@dataclass(frozen=True)
class AnvilNode:
    url: str
    chain_id: int
    keys: tuple[str, ...]
    pid: int


def dev_keys(count: int) -> tuple[str, ...]:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return tuple(
        "0x"
        + bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
        for i in range(count)
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.post(url, json=body, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextmanager
def anvil_node(
    *, accounts: int = 10, chain_id: int = 31337, extra_args: tuple[str, ...] = ()
) -> Iterator[AnvilNode]:
    """Start anvil, yield it once it answers JSON-RPC, and stop it (process group) after."""
    binary = anvil_binary()
    if binary is None:
        raise FileNotFoundError("anvil not found: run `npm install` (npm @foundry-rs/anvil)")
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        cmd = [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--prune-history",
            "--accounts",
            str(accounts),
            "--mnemonic",
            DEV_MNEMONIC,
            "--chain-id",
            str(chain_id),
            "--silent",
            *extra_args,
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            if _wait_ready(url, proc, time.monotonic() + 30):
                yield AnvilNode(url=url, chain_id=chain_id, keys=dev_keys(accounts), pid=proc.pid)
                return
        finally:
            _stop(proc)
    raise OSError("anvil did not start on 127.0.0.1 after 3 attempts")


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """Session-wide anvil for any test area: ``from tests.support.anvil import anvil``
    in a conftest.py makes it available; skips only when the binary is absent."""
    if anvil_binary() is None:
        pytest.skip("anvil not installed (npm @foundry-rs/anvil; run `make setup`)")
    with anvil_node() as node:
        yield node

"""Start a real ledger node (``alliance node start``) on 127.0.0.1 with a temp data dir.

    with running_node() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        ...  # node.member_keys are admitted senders (genesis members)

The node runs as a subprocess in its own process group and is stopped (or killed) on exit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

# Deterministic test keys: member i's key is keccak-free and obvious on purpose.
DEV_KEYS = [f"0x{i:064x}" for i in range(0xA11CE0, 0xA11CE0 + 8)]
DEV_CHAIN_ID = 7171


def dev_genesis(member_keys: list[str], **extra: Any) -> dict[str, Any]:
    members = [Account.from_key(k).address for k in member_keys]
    doc: dict[str, Any] = {"chainId": DEV_CHAIN_ID, "members": members, "blockTimeMs": 50}
    doc.update(extra)
    return doc


@dataclass
class NodeProcess:
    data_dir: Path
    rpc_port: int = 0
    member_keys: list[str] = field(default_factory=lambda: DEV_KEYS[:4])
    block_time_ms: int | None = None
    synchronous: str = "full"
    proc: subprocess.Popen[str] | None = None
    url: str = ""

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "sharing_api.cli",
            "node",
            "start",
            "--data-dir",
            str(self.data_dir),
            "--rpc",
            f"127.0.0.1:{self.rpc_port}",
            "--synchronous",
            self.synchronous,
        ]
        if self.block_time_ms is not None:
            cmd += ["--block-time-ms", str(self.block_time_ms)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("listening on "):
                    self.url = line.split()[2]
                    self.rpc_port = int(self.url.rsplit(":", 1)[1])
                    return
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"ledger node exited: {err[-2000:]}")
        self.kill()
        raise TimeoutError("ledger node did not start")

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        reply = httpx.post(self.url, json=body, timeout=30).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL the node's process group: no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.proc is not None:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()


def init_node(data_dir: Path, genesis: dict[str, Any]) -> None:
    gfile = data_dir.parent / f"{data_dir.name}-genesis.json"
    gfile.write_text(json.dumps(genesis))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sharing_api.cli",
            "node",
            "init",
            "--genesis",
            str(gfile),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"node init failed: {result.stderr}")


@contextmanager
def running_node(
    member_keys: list[str] | None = None,
    block_time_ms: int | None = 50,
    data_dir: Path | None = None,
    **genesis_extra: Any,
) -> Iterator[NodeProcess]:
    keys = member_keys or DEV_KEYS[:4]
    with tempfile.TemporaryDirectory(prefix="alliance-node-") as tmp:
        d = data_dir or Path(tmp) / "node"
        if not (d / "chain.sqlite3").exists():
            init_node(d, dev_genesis(keys, **genesis_extra))
        node = NodeProcess(d, member_keys=keys, block_time_ms=block_time_ms)
        try:
            node.start()
            yield node
        finally:
            node.stop()

"""Start the js-ipfs daemon (npm ``ipfs``, Kubo-compatible ``/api/v0``) offline on 127.0.0.1.

    with ipfs_daemon() as node:
        IPFSStorage(node.api_url)

``jsipfs init`` takes ~10 s, so one initialised repository is made per test process and
copied for each daemon. Every address is pinned to 127.0.0.1 on a free port, bootstrap and
MDNS are off and the daemon runs ``--offline``: it never dials out.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger_node.network.procs import stop_group
from tests.support.procs import REPO_ROOT, free_ports, wait_until

JSIPFS = REPO_ROOT / "node_modules" / ".bin" / "jsipfs"
_template: Path | None = None


def require_jsipfs() -> Path:
    """The jsipfs binary, or skip the test with the reason."""
    if not JSIPFS.exists():
        pytest.skip(f"js-ipfs not installed ({JSIPFS} missing; run `make setup`)")
    return JSIPFS


@dataclass
class IPFSDaemon:
    api_url: str
    gateway_url: str
    repo: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_group(self.process)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def _initialised_repo() -> Path:
    global _template
    if _template is None:
        base = Path(tempfile.mkdtemp(prefix="jsipfs-template-"))
        atexit.register(shutil.rmtree, base, True)
        repo = base / "repo"
        env = dict(os.environ, IPFS_PATH=str(repo))
        subprocess.run(
            [str(require_jsipfs()), "init", "--profile", "test"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        _template = repo
    return _template


@contextmanager
def ipfs_daemon(startup_timeout: float = 90.0) -> Iterator[IPFSDaemon]:
    jsipfs = require_jsipfs()
    with tempfile.TemporaryDirectory(prefix="jsipfs-") as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(_initialised_repo(), repo)
        api, gateway, rpc = free_ports(3)
        config_path = repo / "config"
        config = json.loads(config_path.read_text())
        config["Addresses"].update(
            API=f"/ip4/127.0.0.1/tcp/{api}",
            Gateway=f"/ip4/127.0.0.1/tcp/{gateway}",
            RPC=f"/ip4/127.0.0.1/tcp/{rpc}",
            Swarm=["/ip4/127.0.0.1/tcp/0"],
            Delegates=[],
        )
        config["Bootstrap"] = []
        config.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
        config_path.write_text(json.dumps(config, indent=2))
        log = Path(tmp) / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(jsipfs), "daemon", "--offline", "--enable-preload=false"],
                env=dict(os.environ, IPFS_PATH=str(repo)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        node = IPFSDaemon(f"http://127.0.0.1:{api}", f"http://127.0.0.1:{gateway}", repo, proc)
        try:
            wait_until(
                lambda: httpx.post(f"{node.api_url}/api/v0/id", timeout=2).status_code == 200,
                proc,
                startup_timeout,
                log,
            )
            yield node
        finally:
            node.stop()

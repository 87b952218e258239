"""Start the project's ledger node as a child process (for `alliance demo`)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger_node.network.procs import stop_group


@contextmanager
def ledger_node(data_dir: Path, members: list[str], chain_id: int = 7171) -> Iterator[str]:
    """Initialise a chain admitting ``members`` and serve it on 127.0.0.1; yields its URL."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    genesis = data_dir.parent / "node-genesis.json"
    genesis.write_text(json.dumps({"chainId": chain_id, "members": members, "blockTimeMs": 50}))
    base = [sys.executable, "-m", "sharing_api.cli", "node"]
    init = subprocess.run(
        [*base, "init", "--genesis", str(genesis), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise OSError(f"ledger node init failed: {init.stderr.strip()[-500:]}")
    proc = subprocess.Popen(
        [*base, "start", "--data-dir", str(data_dir), "--rpc", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        url = ""
        while not url:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise OSError("the ledger node did not start")
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                if line.startswith("listening on "):
                    url = line.split()[2]
        yield url
    finally:
        stop_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()

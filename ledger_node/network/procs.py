"""Child processes of a local network: etcd members and ledger nodes, each in its own
process group so that stopping (or killing, in fault tests) one never touches the others.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from ledger_node.network.access import EtcdAccess, client_options
from ledger_node.network.pki import CA_CERT, CERT, KEY, PEER_CN, PEER_STEM

ETCD_BINARY = "etcd"
# Blocks carry up to a few MB of transactions (base64 in JSON adds a third).
ETCD_MAX_REQUEST_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Host:
    """Where a member's etcd member and node run: an address they listen on and, in tests,
    the Linux network namespace that holds it (``ip netns exec`` starts them there)."""

    address: str = "127.0.0.1"
    netns: str | None = None

    def wrap(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else command

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "netns": self.netns}


LOOPBACK = Host()


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def process_state(pid: int) -> str | None:
    """The state letter /proc gives a process (R running, S sleeping, T stopped, Z exited
    but not yet reaped), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def all_at_once(stops: list[Callable[[], None]]) -> None:
    """Each stop waits for its process to exit: run them side by side, not one by one."""
    if stops:
        with ThreadPoolExecutor(len(stops)) as pool:
            for done in [pool.submit(stop) for stop in stops]:
                done.result()


def etcd_binary() -> str | None:
    return shutil.which(ETCD_BINARY)


def stop_group(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM) -> None:
    """Signal a child's process group and reap it (SIGKILL after 10 s)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


@dataclass
class EtcdMember:
    name: str
    data_dir: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None
    # Its certificates (pki.py: tls.* for clients, peer.* for peers, the CA): TLS on both
    # ports with client certificates required; None: plain HTTP (etcd_cluster(tls=False)).
    tls_dir: Path | None = None
    host: Host = LOOPBACK

    @property
    def scheme(self) -> str:
        return "https" if self.tls_dir else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.host.address}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{self.host.address}:{self.peer_port}"

    def tls_flags(self) -> list[str]:
        if self.tls_dir is None:
            return []
        d = self.tls_dir
        return [
            "--cert-file", str(d / CERT), "--key-file", str(d / KEY),
            "--trusted-ca-file", str(d / CA_CERT), "--client-cert-auth",
            "--peer-cert-file", str(d / f"{PEER_STEM}.crt"),
            "--peer-key-file", str(d / f"{PEER_STEM}.key"),
            "--peer-trusted-ca-file", str(d / CA_CERT), "--peer-client-cert-auth",
            # A node's client certificate comes from the same CA: not a peer.
            "--peer-cert-allowed-cn", PEER_CN,
        ]  # fmt: skip

    def command(self, initial_cluster: str, token: str) -> list[str]:
        binary = etcd_binary()
        if binary is None:
            raise FileNotFoundError("etcd not installed (Debian package etcd-server)")
        return [
            binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-token", token,
            "--initial-cluster-state", "new",
            "--max-request-bytes", str(ETCD_MAX_REQUEST_BYTES),
            # Pool entries are written and deleted all the time: keep only recent revisions
            # so etcd's MVCC history does not fill its quota.
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", "10000",
            "--quota-backend-bytes", str(8 * 1024**3),
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            "--logger", "zap",
            "--log-outputs", str(self.data_dir.parent / f"{self.name}.log"),
            *self.tls_flags(),
        ]  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class EtcdCluster:
    """An n-member etcd cluster, on loopback unless its members name other hosts (etcd's
    own Raft orders the ledger's blocks)."""

    root: Path
    size: int = 3
    token: str = "alliance"
    members: list[EtcdMember] = field(default_factory=list)
    # A client certificate for the health checks (required once members run TLS).
    client: EtcdAccess | None = None

    def __post_init__(self) -> None:
        if not self.members:
            self.members = [
                EtcdMember(f"etcd{i}", self.root / f"etcd{i}", free_port(), free_port())
                for i in range(self.size)
            ]

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start_member(self, m: EtcdMember) -> None:
        m.data_dir.parent.mkdir(parents=True, exist_ok=True)
        m.proc = subprocess.Popen(
            m.host.wrap(m.command(self.initial_cluster(), self.token)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start(self, timeout: float = 30.0) -> None:
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc is not None and m.proc.poll() is not None:
                    raise RuntimeError(f"etcd member {m.name} exited ({m.proc.returncode})")
            if self.healthy():
                return
            time.sleep(0.1)
        raise TimeoutError("etcd cluster did not become healthy")

    def healthy(self) -> bool:
        """A quorum of members reports a leader."""
        ok = 0
        with httpx.Client(timeout=1, **client_options(self.client)) as client:
            for m in self.members:
                try:
                    doc = client.get(m.client_url + "/health").json()
                    ok += doc.get("health") == "true"
                except (httpx.HTTPError, ValueError):
                    continue
        return ok > self.size // 2

    def kill_member(self, index: int) -> None:
        stop_group(self.members[index].proc, signal.SIGKILL)

    def stop(self) -> None:
        all_at_once([partial(stop_group, m.proc) for m in self.members])

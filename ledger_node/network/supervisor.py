"""A local network: an etcd cluster plus one ledger node per member and an optional
read-only regulator follower, on loopback or, in tests, one network namespace per member.
``alliance network up|status|down`` and the fault tests drive it; its state (ports, pids)
lives in ``<root>/network.json`` so that ``down`` and ``status`` work from another process,
and ``up`` on the same root restarts the same network (same ports, same data, same head).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from coincurve import PrivateKey

from ledger_node.block import address_of
from ledger_node.datadir import DB_FILE, init_data_dir
from ledger_node.jsonrpc import ChainUnavailable, JsonRpc, RpcError
from ledger_node.network import pki
from ledger_node.network.access import EtcdAccess
from ledger_node.network.layout import Keys
from ledger_node.network.procs import (
    LOOPBACK,
    EtcdCluster,
    EtcdMember,
    Host,
    all_at_once,
    free_port,
    process_state,
    stop_group,
)
from ledger_node.network.roles import (
    OBSERVER,
    ROOT_USER,
    Admin,
    grants,
    new_password,
    setup_network,
)

STATE_FILE = "network.json"
REGULATOR_ID = "regulator"
TLS_DIR = "tls"  # <root>/tls/ca (the alliance CA), tls/<etcd member>, tls/<node or user>


@dataclass
class NodeSpec:
    id: str
    rpc_port: int
    follower: bool = False
    pid: int | None = None
    args: list[str] = field(default_factory=list)  # extra `network node` flags
    join_from: str | None = None  # a peer's URL: start from its snapshot (`network join`)
    address: str = LOOPBACK.address
    netns: str | None = None

    @property
    def host(self) -> Host:
        return Host(self.address, self.netns)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.rpc_port}"


@dataclass
class LocalNetwork:
    root: Path
    name: str = "local"
    etcd_size: int = 3
    nodes: list[NodeSpec] = field(default_factory=list)
    etcd_ports: list[tuple[int, int]] = field(default_factory=list)
    etcd_pids: list[int | None] = field(default_factory=list)
    etcd_hosts: list[Host] = field(default_factory=list)  # etcd member i's (loopback if none)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    etcd: EtcdCluster | None = None
    tls: bool = False  # TLS + etcd auth (every network `create` makes; older ones: plain)
    auth_on: bool = False  # users and roles are set up and etcd's auth is enabled

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Path,
        members: int,
        regulator: bool = True,
        etcd_size: int = 3,
        genesis: dict[str, Any] | None = None,
        name: str = "local",
        tls: bool = True,
        hosts: list[Host] | None = None,
    ) -> LocalNetwork:
        """Keys, genesis and data directories for ``members`` sealing nodes (+ regulator);
        with ``tls``, the alliance CA and every etcd member's and node's certificate.
        ``hosts``: member i's node and etcd member i run on ``hosts[i]``, the regulator on
        the one after the members' (default: all on loopback)."""
        if members < 1:
            raise ValueError("--members must be at least 1")
        if hosts is not None and (len(hosts) < members + int(regulator) or etcd_size > len(hosts)):
            raise ValueError("hosts: one per member (and the regulator) and per etcd member")
        places = hosts or [LOOPBACK] * (members + 1 + etcd_size)
        if (root / STATE_FILE).exists():
            raise ValueError(f"{root} already holds a network: `alliance network up` restarts it")
        root.mkdir(parents=True, exist_ok=True)
        keys = [PrivateKey() for _ in range(members)]
        sealers = ["0x" + address_of(k).hex() for k in keys]
        doc = dict(genesis or {})
        doc.setdefault("chainId", 7171)
        doc.setdefault("members", sealers)
        doc["sealers"] = sealers
        (root / "genesis.json").write_text(json.dumps(doc, indent=2) + "\n")
        net = cls(root, name, etcd_size, tls=tls)
        for i, key in enumerate(keys):
            net.nodes.append(NodeSpec(f"node{i}", free_port(), **_placed(places[i])))
            d = net.data_dir(f"node{i}")
            d.mkdir(parents=True)
            (d / "node.key").write_text(key.secret.hex() + "\n")
            (d / "node.key").chmod(0o600)
            init_data_dir(d, json.dumps(doc))
        if regulator:
            spec = NodeSpec(REGULATOR_ID, free_port(), follower=True, **_placed(places[members]))
            net.nodes.append(spec)
            init_data_dir(net.data_dir(REGULATOR_ID), json.dumps(doc))
        net.etcd_ports = [(free_port(), free_port()) for _ in range(etcd_size)]
        net.etcd_hosts = places[:etcd_size]
        if tls:
            net.issue_certificates()
        net.save()
        return net

    def tls_dir(self, name: str) -> Path:
        return self.root / TLS_DIR / name

    def issue_certificates(self) -> None:
        """The alliance CA; per etcd member a server and a peer certificate; per node (and
        the root and observer users) a client certificate naming it (pki.py)."""
        ca = self.tls_dir("ca")
        pki.create_ca(ca, f"alliance-{self.name}")
        for i in range(self.etcd_size):
            sans = [self.etcd_host(i).address, *pki.LOCAL_HOSTS]
            pki.issue(ca, f"etcd{i}", self.tls_dir(f"etcd{i}"), server=True, hosts=sans)
            pki.issue(
                ca, pki.PEER_CN, self.tls_dir(f"etcd{i}"), True, hosts=sans, stem=pki.PEER_STEM
            )
        for user in [n.id for n in self.nodes] + [ROOT_USER, OBSERVER]:
            pki.issue(ca, user, self.tls_dir(user))
            if user == ROOT_USER:
                new_password(self.tls_dir(user))  # the others' come with their users

    def add_node(self, spec: NodeSpec) -> None:
        """A node joining the running network (e.g. a new member's, ``join_from`` a peer):
        its client certificate and, with auth on, its etcd user and role, as the manual
        path does (``alliance network cert issue`` and ``network user``)."""
        if any(n.id == spec.id for n in self.nodes):
            raise ValueError(f"node {spec.id} is already in this network")
        if self.tls:
            pki.issue(self.tls_dir("ca"), spec.id, self.tls_dir(spec.id))
            if self.auth_on:
                root = self.access(ROOT_USER)
                assert root is not None
                with Admin(self.etcd_endpoints[0], root) as admin:
                    admin.add_user(
                        spec.id,
                        new_password(self.tls_dir(spec.id)),
                        grants(Keys(self.name), spec.id, spec.follower),
                    )
        self.nodes.append(spec)
        self.save()

    def access(self, user: str) -> EtcdAccess | None:
        """TLS files and etcd credentials of a node or user (None on a plain network)."""
        return EtcdAccess.from_dir(self.tls_dir(user)) if self.tls else None

    @classmethod
    def load(cls, root: Path) -> LocalNetwork:
        path = root / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"no network in {root}: run `alliance network up` first")
        doc = json.loads(path.read_text())
        net = cls(root, doc["name"], len(doc["etcd"]), tls=doc.get("tls", False))
        net.auth_on = doc.get("auth", False)
        net.etcd_ports = [(e["client_port"], e["peer_port"]) for e in doc["etcd"]]
        net.etcd_pids = [e.get("pid") for e in doc["etcd"]]
        net.etcd_hosts = [Host(**e["host"]) if "host" in e else LOOPBACK for e in doc["etcd"]]
        net.nodes = [NodeSpec(**n) for n in doc["nodes"]]
        return net

    def save(self) -> None:
        pids = self.etcd_pids or [None] * len(self.etcd_ports)
        doc = {
            "name": self.name,
            "tls": self.tls,
            "auth": self.auth_on,
            "etcd": [
                {"client_port": c, "peer_port": p, "pid": pid, "host": self.etcd_host(i).to_json()}
                for i, ((c, p), pid) in enumerate(zip(self.etcd_ports, pids, strict=True))
            ],
            "nodes": [asdict(n) for n in self.nodes],
        }
        (self.root / STATE_FILE).write_text(json.dumps(doc, indent=2) + "\n")

    def data_dir(self, node_id: str) -> Path:
        return self.root / node_id

    def etcd_host(self, index: int) -> Host:
        return self.etcd_hosts[index] if index < len(self.etcd_hosts) else LOOPBACK

    @property
    def etcd_endpoints(self) -> list[str]:
        return [
            f"{self.scheme}://{self.etcd_host(i).address}:{c}"
            for i, (c, _) in enumerate(self.etcd_ports)
        ]

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ValueError(f"no node {node_id}")

    # -- processes ------------------------------------------------------------------------
    def start_etcd(self, timeout: float = 30.0) -> EtcdCluster:
        members = [
            EtcdMember(
                f"etcd{i}",
                self.root / "etcd" / f"etcd{i}",
                c,
                p,
                tls_dir=self.tls_dir(f"etcd{i}") if self.tls else None,
                host=self.etcd_host(i),
            )
            for i, (c, p) in enumerate(self.etcd_ports)
        ]
        cluster = EtcdCluster(
            self.root / "etcd",
            len(members),
            f"alliance-{self.name}",
            members,
            self.access(OBSERVER),
        )
        for m in members:
            cluster.start_member(m)
        self.etcd = cluster
        self.etcd_pids = [m.proc.pid if m.proc else None for m in members]
        cluster.wait_healthy(timeout)
        if self.tls and not self.auth_on:
            self.setup_auth()
        return cluster

    def setup_auth(self) -> None:
        """One etcd user and role per node (``roles.py``), the observer, then auth on."""
        root = self.access(ROOT_USER)
        assert root is not None
        users = [(n.id, n.follower, self.tls_dir(n.id)) for n in self.nodes]
        users.append((OBSERVER, True, self.tls_dir(OBSERVER)))
        setup_network(self.etcd_endpoints[0], root, Keys(self.name), users)
        self.auth_on = True
        self.save()

    def node_command(self, spec: NodeSpec, endpoints: list[str] | None = None) -> list[str]:
        verb = ["node"]
        if spec.join_from and not (self.data_dir(spec.id) / DB_FILE).exists():
            verb = ["join", "--from", spec.join_from, "--genesis", str(self.root / "genesis.json")]
        cmd = [
            sys.executable, "-m", "sharing_api.cli", "network", *verb,
            "--data-dir", str(self.data_dir(spec.id)),
            "--id", spec.id,
            "--network", self.name,
            "--etcd", ",".join(endpoints or self.etcd_endpoints),
            "--rpc", f"{spec.address}:{spec.rpc_port}",
        ]  # fmt: skip
        if self.tls:
            cmd += ["--etcd-dir", str(self.tls_dir(spec.id))]
        if spec.follower:
            cmd.append("--follower")
        return spec.host.wrap(cmd + spec.args)

    def start_node(self, spec: NodeSpec, endpoints: list[str] | None = None) -> None:
        log = open(self.root / f"{spec.id}.log", "ab")  # noqa: SIM115 (the child keeps it)
        try:
            proc = subprocess.Popen(
                self.node_command(spec, endpoints),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self.procs[spec.id] = proc
        spec.pid = proc.pid

    def wait_ready(self, spec: NodeSpec, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(spec.id)
            if proc is not None and proc.poll() is not None:
                tail = (self.root / f"{spec.id}.log").read_text()[-1500:]
                raise RuntimeError(f"node {spec.id} exited: {tail}")
            with contextlib.suppress(ChainUnavailable), JsonRpc(spec.url, timeout=1) as rpc:
                with contextlib.suppress(RpcError):  # an error object is an answer too
                    rpc.call("eth_blockNumber", [])
                return
            time.sleep(0.1)
        raise TimeoutError(f"node {spec.id} did not start")

    def up(self) -> None:
        self.start_etcd()
        for spec in self.nodes:
            self.start_node(spec)
        for spec in self.nodes:
            self.wait_ready(spec)
        self.save()

    def kill_node(self, node_id: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(node_id, None)
        if proc is not None:
            stop_group(proc, sig)
        self.node(node_id).pid = None

    def down(self) -> None:
        """Stop every node, then etcd, each group all at once. Works from another process
        via recorded pids."""
        stops: list[Callable[[], None]] = []
        for spec in self.nodes:
            proc = self.procs.pop(spec.id, None)
            if proc is not None:
                stops.append(partial(stop_group, proc))
            elif spec.pid:
                stops.append(partial(_stop_pid, spec.pid))
            spec.pid = None
        all_at_once(stops)
        if self.etcd is not None:
            self.etcd.stop()
        else:
            all_at_once([partial(_stop_pid, pid) for pid in self.etcd_pids if pid])
        self.etcd_pids = [None] * len(self.etcd_ports)
        self.etcd = None
        self.save()

    def has_data(self) -> bool:
        return all((self.data_dir(n.id) / DB_FILE).exists() for n in self.nodes)


def _placed(host: Host) -> dict[str, Any]:
    return {"address": host.address, "netns": host.netns}


def _exited(pid: int) -> bool:
    """The group is gone, or its leader (nodes and etcd start no children) is a zombie: it
    has exited and waits for a parent that is not this process (``network down`` run from
    another shell) to reap it."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return process_state(pid) in (None, "Z")


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """Stop a process group this network started earlier (its leader's pid was recorded)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)

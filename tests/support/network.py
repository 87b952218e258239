"""A replicated network for tests: etcd cluster + member nodes + regulator on loopback.

    with local_network(members=3) as net:
        net.send("node0", raw_tx)               # -> tx hash (acknowledged = in etcd)
        net.producer()                          # id of the node holding the producer key
        net.cut("node1"); net.restore("node1")  # partition one node from etcd
        net.kill("node2")                       # SIGKILL; net.start("node2") brings it back
        net.resume("node1")                     # SIGCONT (after a failpoint's SIGSTOP)

Every node reaches etcd through its own TcpProxy per etcd member, so ``cut`` isolates one
node from the ordering service without root (TLS passes through: the proxy is on 127.0.0.1,
which the members' certificates name). The network runs TLS with etcd auth on, as
``alliance network up`` does (``tls=False``: plain HTTP, no auth). Everything is stopped on
exit.

``netns_network`` runs each member's etcd member and node on a host of its own instead: a
network namespace with its own address (root only; ``tests/support/netns.py``), where a
partition cuts the links between hosts.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ledger_node.network.supervisor import LocalNetwork
from tests.support.netns import Lan, inside, lan
from tests.support.tcpproxy import TcpProxy

T = TypeVar("T")


class TestNetwork:
    __test__ = False  # not a pytest class

    def __init__(self, net: LocalNetwork, proxied: bool = True) -> None:
        self.net = net
        self.proxied = proxied  # each node reaches etcd through its own proxies (for `cut`)
        self.proxies: dict[str, list[TcpProxy]] = {}
        self.client = httpx.Client(timeout=30)

    # -- processes ----------------------------------------------------------------------
    def start(self, node_id: str, wait: bool = True) -> None:
        spec = self.net.node(node_id)
        if not self.proxied:
            self.net.start_node(spec)
            if wait:
                self.net.wait_ready(spec)
            return
        proxies = self.proxies.get(node_id)
        if proxies is None:
            proxies = [TcpProxy(c).start() for c, _ in self.net.etcd_ports]
            self.proxies[node_id] = proxies
        self.net.start_node(spec, [f"{self.net.scheme}://127.0.0.1:{p.port}" for p in proxies])
        if wait:
            self.net.wait_ready(spec)

    def start_all(self, node_ids: list[str]) -> None:
        for n in node_ids:  # in parallel: each node takes seconds to import and replay
            self.start(n, wait=False)
        for n in node_ids:
            self.net.wait_ready(self.net.node(n))

    def kill(self, node_id: str) -> None:
        self.net.kill_node(node_id)

    def stop(self, node_id: str) -> None:
        self.net.kill_node(node_id, signal.SIGTERM)

    def resume(self, node_id: str) -> None:
        os.killpg(self.net.procs[node_id].pid, signal.SIGCONT)

    def cut(self, node_id: str) -> None:
        for p in self.proxies[node_id]:
            p.cut()

    def restore(self, node_id: str) -> None:
        for p in self.proxies[node_id]:
            p.restore()

    def close(self) -> None:
        try:
            self.net.down()
        finally:
            for ps in self.proxies.values():
                for p in ps:
                    p.stop()
            self.client.close()

    # -- JSON-RPC -----------------------------------------------------------------------
    def url(self, node_id: str) -> str:
        return self.net.node(node_id).url

    def rpc(self, node_id: str, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        reply = self.client.post(self.url(node_id), json=body).json()
        if "error" in reply:
            raise RuntimeError(f"{node_id} {method}: {reply['error']}")
        return reply["result"]

    def send(self, node_id: str, raw: bytes) -> str:
        result: str = self.rpc(node_id, "eth_sendRawTransaction", "0x" + raw.hex())
        return result

    def send_batch(self, node_id: str, raws: list[bytes]) -> list[str]:
        body = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_sendRawTransaction",
                "params": ["0x" + r.hex()],
            }
            for i, r in enumerate(raws)
        ]
        replies = sorted(
            self.client.post(self.url(node_id), json=body).json(), key=lambda r: r["id"]
        )
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            raise RuntimeError(f"{node_id}: {errors[:3]}")
        return [r["result"] for r in replies]

    def height(self, node_id: str) -> int:
        return int(self.rpc(node_id, "eth_blockNumber"), 16)

    def head(self, node_id: str) -> tuple[int, str]:
        block = self.rpc(node_id, "eth_getBlockByNumber", "latest", False)
        return int(block["number"], 16), block["hash"]

    def receipt(self, node_id: str, tx_hash: str) -> dict[str, Any] | None:
        r: dict[str, Any] | None = self.rpc(node_id, "eth_getTransactionReceipt", tx_hash)
        return r

    def metric(self, node_id: str, name: str) -> float:
        text = self.client.get(self.url(node_id) + "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)

    # -- etcd view --------------------------------------------------------------------------
    def producer(self) -> str | None:
        from ledger_node.network.status import network_status

        st = network_status(self.net)
        p: str | None = st.get("producer")
        return p

    def status(self) -> dict[str, Any]:
        from ledger_node.network.status import network_status

        return network_status(self.net)

    def member_key(self, node_id: str) -> str:
        return "0x" + (self.net.data_dir(node_id) / "node.key").read_text().strip()

    def log(self, node_id: str) -> str:
        return (self.net.root / f"{node_id}.log").read_text()


def wait_for(what: str, fn: Callable[[], T | None], timeout: float, every: float = 0.05) -> T:
    """Poll ``fn`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last})")


@contextmanager
def local_network(
    members: int = 3,
    regulator: bool = True,
    root: Path | None = None,
    genesis_doc: dict[str, Any] | None = None,
    node_args: list[str] | None = None,
    tls: bool = True,
    **genesis: Any,
) -> Iterator[TestNetwork]:
    """``genesis_doc`` and keywords are genesis fields (the doc for names such as
    ``members``, which the keywords cannot carry); ``node_args`` go to every node."""
    doc = {**(genesis_doc or {}), **genesis}
    with tempfile.TemporaryDirectory(prefix="alliance-net-") as tmp:
        base = root or Path(tmp)
        net = LocalNetwork.create(base / "net", members, regulator, 3, doc or None, tls=tls)
        for spec in net.nodes:
            spec.args = list(node_args or [])
        tn = TestNetwork(net)
        try:
            net.start_etcd()
            tn.start_all([spec.id for spec in net.nodes])
            net.save()
            yield tn
        finally:
            tn.close()


def genesis_of(tn: TestNetwork) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((tn.net.root / "genesis.json").read_text())
    return doc


@contextmanager
def netns_network(
    members: int = 3, node_args: list[str] | None = None, **genesis: Any
) -> Iterator[tuple[TestNetwork, Lan]]:
    """Member i's etcd member and node on host i, the regulator on the host after them: each
    a network namespace with its own address. The calling thread works from the client
    namespace meanwhile (every request of the test crosses the router)."""
    with (
        tempfile.TemporaryDirectory(prefix="alliance-netns-") as tmp,
        lan(members + 1) as hosts,
    ):
        net = LocalNetwork.create(
            Path(tmp) / "net", members, True, members, genesis or None, hosts=hosts.hosts
        )
        for spec in net.nodes:
            spec.args = list(node_args or [])
        tn = TestNetwork(net, proxied=False)
        assert hosts.client.netns is not None
        with inside(hosts.client.netns):
            try:
                net.start_etcd()
                tn.start_all([spec.id for spec in net.nodes])
                net.save()
                yield tn, hosts
            finally:
                tn.close()

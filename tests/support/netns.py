"""Member hosts in Linux network namespaces, joined by a router namespace, for tests.

Each host is a namespace with its own address (``10.77.<i>.2``) on its own link to a
router namespace that forwards between them; the test process enters a client namespace
on the same router, so every packet of the test stays in namespaces the test created.
``partition`` drops packets between two groups at the router with ``ip rule ... blackhole``
(silently, in both directions, as a broken link does: connections time out rather than
fail fast); ``heal`` removes the rules. Needs root and iproute2 (the tests run as root).

Namespace names carry this process's pid, so concurrent runs never clash, and ``lan``
deletes them all on exit (their links go with them).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledger_node.network.procs import Host

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run this thread in ``netns``: sockets it opens meanwhile live there. A network
    namespace is per thread, so other threads (and already open sockets) are unaffected."""
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{netns}", "rb") as ns:
        _setns(ns.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


@dataclass
class Lan:
    tag: str
    hosts: list[Host] = field(default_factory=list)
    client: Host = field(default_factory=Host)
    _rules: set[tuple[str, str]] = field(default_factory=set)

    @property
    def router(self) -> str:
        return f"{self.tag}r"

    def _subnet(self, host: Host) -> str:
        return host.address.rsplit(".", 1)[0] + ".0/24"

    def partition(self, side_a: list[int], side_b: list[int]) -> None:
        """Drop every packet between hosts ``side_a`` and ``side_b`` (indexes), both ways."""
        for a in side_a:
            for b in side_b:
                for src, dst in ((a, b), (b, a)):
                    rule = (self._subnet(self.hosts[src]), self._subnet(self.hosts[dst]))
                    if rule not in self._rules:
                        ip("-n", self.router, "rule", "add", "from", rule[0], "to", rule[1],
                           "blackhole")  # fmt: skip
                        self._rules.add(rule)

    def heal(self) -> None:
        for src, dst in sorted(self._rules):
            ip("-n", self.router, "rule", "del", "from", src, "to", dst, "blackhole")
        self._rules.clear()


def _attach(lan: Lan, index: int, netns: str) -> Host:
    """A namespace with one link to the router: 10.77.<index>.2, router at .1."""
    ip("netns", "add", netns)
    ip("-n", netns, "link", "set", "lo", "up")
    link = f"r{index}"
    ip("-n", lan.router, "link", "add", link, "type", "veth", "peer", "name", "eth0",
       "netns", netns)  # fmt: skip
    ip("-n", lan.router, "addr", "add", f"10.77.{index}.1/24", "dev", link)
    ip("-n", lan.router, "link", "set", link, "up")
    ip("-n", netns, "addr", "add", f"10.77.{index}.2/24", "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", netns, "route", "add", "default", "via", f"10.77.{index}.1")
    return Host(f"10.77.{index}.2", netns)


@contextmanager
def lan(count: int) -> Iterator[Lan]:
    """``count`` hosts and a client namespace behind one router; deleted on exit."""
    net = Lan(f"al{os.getpid()}")
    made = [net.router]
    try:
        ip("netns", "add", net.router)
        ip("-n", net.router, "link", "set", "lo", "up")
        forward = ["ip", "netns", "exec", net.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]
        subprocess.run(forward, check=True)
        for i in range(count):
            made.append(f"{net.tag}h{i}")
            net.hosts.append(_attach(net, i + 1, made[-1]))
        made.append(f"{net.tag}c")
        net.client = _attach(net, 200, made[-1])
        yield net
    finally:
        for netns in made:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)

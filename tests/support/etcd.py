"""Start a real etcd cluster (Debian ``etcd-server``) on 127.0.0.1 with free ports, over TLS
with client certificates required (its own CA), as networks run.

    with etcd_cluster(3) as cluster:
        cluster.endpoints          # https client URLs
        cluster.client             # EtcdAccess: the CA and a client certificate (no auth)
        cluster.kill_member(0)     # SIGKILL one member (fault tests)

Skip marker: ``requires_etcd`` (only where the binary is absent; ``make`` installs it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger_node.network import pki
from ledger_node.network.access import EtcdAccess
from ledger_node.network.procs import EtcdCluster, EtcdMember, etcd_binary, free_port

requires_etcd = pytest.mark.skipif(
    etcd_binary() is None,
    reason="etcd not installed (Debian etcd-server, scripts/apt-packages.txt)",
)


def tls_members(root: Path, size: int) -> tuple[list[EtcdMember], EtcdAccess]:
    """Members with their server and peer certificates, and a client's access, from a new CA
    under ``root/tls``."""
    ca = root / "tls" / "ca"
    pki.create_ca(ca, "test")
    members = []
    for i in range(size):
        d = root / "tls" / f"etcd{i}"
        pki.issue(ca, f"etcd{i}", d, server=True)
        pki.issue(ca, pki.PEER_CN, d, server=True, stem=pki.PEER_STEM)
        members.append(EtcdMember(f"etcd{i}", root / f"etcd{i}", free_port(), free_port(), None, d))
    pki.issue(ca, "client", root / "tls" / "client")
    return members, EtcdAccess.from_dir(root / "tls" / "client")


@contextmanager
def etcd_cluster(
    size: int = 3, root: Path | None = None, tls: bool = True
) -> Iterator[EtcdCluster]:
    with tempfile.TemporaryDirectory(prefix="alliance-etcd-") as tmp:
        base = root or Path(tmp)
        if tls:
            members, client = tls_members(base, size)
            cluster = EtcdCluster(base, size, members=members, client=client)
        else:
            cluster = EtcdCluster(base, size)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()

"""Start a real etcd cluster (Debian ``etcd-server``) on 127.0.0.1 with free ports.

    with etcd_cluster(3) as cluster:
        cluster.endpoints          # client URLs
        cluster.kill_member(0)     # SIGKILL one member (fault tests)

Skip marker: ``requires_etcd`` (only where the binary is absent; ``make`` installs it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger_node.network.procs import EtcdCluster, etcd_binary

requires_etcd = pytest.mark.skipif(
    etcd_binary() is None,
    reason="etcd not installed (Debian etcd-server, scripts/apt-packages.txt)",
)


@contextmanager
def etcd_cluster(size: int = 3, root: Path | None = None) -> Iterator[EtcdCluster]:
    with tempfile.TemporaryDirectory(prefix="alliance-etcd-") as tmp:
        cluster = EtcdCluster(root or Path(tmp), size)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()

"""The js-ipfs daemon for tests: ``sharing_api.storage.servers`` (the launcher the demo uses)
in a temporary directory, skipping the test with the reason if js-ipfs is not installed.

    with ipfs_daemon() as node:
        IPFSStorage(node.api_url)
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sharing_api.storage import servers
from sharing_api.storage.servers import IPFSDaemon

JSIPFS = servers.REPO_ROOT / "node_modules" / ".bin" / "jsipfs"

__all__ = ["JSIPFS", "IPFSDaemon", "ipfs_daemon", "require_jsipfs"]


def require_jsipfs() -> Path:
    """The jsipfs binary, or skip the test with the reason."""
    try:
        return servers.jsipfs_binary()
    except servers.ServerNotInstalledError as exc:
        pytest.skip(str(exc))


@contextmanager
def ipfs_daemon(startup_timeout: float = 90.0) -> Iterator[IPFSDaemon]:
    require_jsipfs()
    with (
        tempfile.TemporaryDirectory(prefix="jsipfs-") as tmp,
        servers.ipfs_daemon(Path(tmp), timeout=startup_timeout) as node,
    ):
        yield node

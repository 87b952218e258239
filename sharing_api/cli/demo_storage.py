"""The demo's record stores: `alliance demo --storage local|ipfs|s3`.

- ``local``: each gateway's own directory store (the default, nothing to start).
- ``ipfs``: one js-ipfs daemon per gateway, each with its own fresh repository, as every
  institution runs its own IPFS node in a real alliance: no member's node holds, pins or
  garbage-collects another's blobs, and "the reader's gateway holds no copy" is a fact about
  separate nodes, not a convention inside one. (A js-ipfs daemon serves exactly one repo.)
- ``s3``: one SeaweedFS server standing in for an object-storage provider, one bucket per
  gateway, and per-gateway credentials that reach only that bucket (as separate accounts
  would); the credentials reach the gateway through its environment, never gateway.json.

Everything binds 127.0.0.1. The servers stop on every way out of the ``with``: normal end,
an exception, Ctrl-C, and SIGTERM (turned into KeyboardInterrupt while the demo runs, so
the gateways and the ledger node are unwound the same way).
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_node.network.procs import all_at_once
from sharing_api.storage.base import Storage
from sharing_api.storage.config import StorageConfig, open_storage
from sharing_api.storage.servers import (
    IPFSDaemon,
    SeaweedFS,
    jsipfs_binary,
    start_ipfs,
    start_seaweedfs,
    weed_binary,
)

KINDS = ("local", "ipfs", "s3")


@dataclass
class DemoStores:
    kind: str
    root: Path
    ipfs: dict[str, IPFSDaemon] = field(default_factory=dict)
    s3: SeaweedFS | None = None

    def table(self, gateway: str) -> dict[str, Any] | None:
        """The gateway's "storage" setting (None: the default local store in its dir)."""
        if gateway in self.ipfs:
            return {"backend": "ipfs", "ipfs_api": self.ipfs[gateway].api_url}
        if self.s3 is not None:
            return {
                "backend": "s3",
                "s3_endpoint": self.s3.endpoint,
                "s3_bucket": self.s3.buckets[gateway],
                "s3_prefix": "records/",
            }
        return None

    def env(self, gateway: str) -> dict[str, str]:
        """Secrets for the gateway's process (S3 credentials), kept out of gateway.json."""
        if self.s3 is None:
            return {}
        creds = self.s3.credentials[gateway]
        return {
            "ALLIANCE_STORAGE_S3_ACCESS_KEY": creds.access_key,
            "ALLIANCE_STORAGE_S3_SECRET_KEY": creds.secret_key,
        }

    def open(self, gateway: str, directory: Path) -> Storage:
        """The gateway's store, opened the way the gateway opens it (to check what it holds)."""
        table = self.table(gateway) or {"backend": "local", "local_root": str(directory)}
        if self.s3 is not None:
            creds = self.s3.credentials[gateway]
            table = {**table, "s3_access_key": creds.access_key, "s3_secret_key": creds.secret_key}
        return open_storage(StorageConfig.model_validate(table))

    def describe(self) -> list[str]:
        if self.s3 is not None:
            return [f"    stores: SeaweedFS S3 at {self.s3.endpoint}, a bucket per gateway"] + [
                f"      {name:<5} bucket {bucket}" for name, bucket in self.s3.buckets.items()
            ]
        if self.ipfs:
            return ["    stores: one js-ipfs daemon per gateway (offline, own repo)"] + [
                f"      {name:<5} {node.api_url}" for name, node in self.ipfs.items()
            ]
        return ["    stores: each gateway's local directory store"]

    def stop(self) -> None:
        stops: list[Callable[[], None]] = [node.stop for node in self.ipfs.values()]
        if self.s3 is not None:
            stops.append(self.s3.stop)
        all_at_once(stops)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` stopping a child process runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_ipfs_nodes(root: Path, gateways: Sequence[str], stores: DemoStores) -> None:
    # js-ipfs takes a few seconds each to init and start: start them side by side. Every
    # daemon that did start is recorded before an error (or Ctrl-C) propagates, so it stops.
    pool = ThreadPoolExecutor(len(gateways))
    futures = {name: pool.submit(start_ipfs, root / f"ipfs-{name}") for name in gateways}
    try:
        for name, future in futures.items():
            stores.ipfs[name] = future.result()
    finally:
        pool.shutdown(wait=True)
        for name, future in futures.items():
            if name not in stores.ipfs and future.done() and future.exception() is None:
                stores.ipfs[name] = future.result()


@contextmanager
def demo_stores(kind: str, root: Path, gateways: Sequence[str]) -> Iterator[DemoStores]:
    """Start the storage servers for ``kind`` (under ``root``) and stop them on the way out."""
    if kind not in KINDS:
        raise ValueError(f"unknown demo storage {kind!r} (one of {', '.join(KINDS)})")
    # Fail in one line before anything starts if the server is not installed.
    if kind == "ipfs":
        jsipfs_binary()
    elif kind == "s3":
        weed_binary()
    stores = DemoStores(kind, root)
    shutil.rmtree(root, ignore_errors=True)  # a re-run in the same workdir starts afresh
    with _sigterm_unwinds():
        try:
            if kind == "ipfs":
                _start_ipfs_nodes(root, gateways, stores)
            elif kind == "s3":
                buckets = {name: f"alliance-{name}" for name in gateways}
                stores.s3 = start_seaweedfs(root / "s3", identities=buckets)
            yield stores
        finally:
            stores.stop()

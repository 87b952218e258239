"""A new member's node joins a running network from a peer's snapshot.

Every node serves ``GET /snapshot`` (backup.py, ``SnapshotRoute``): the same archive as
``alliance node backup`` (a consistent ``VACUUM INTO`` copy of its chain, taken while it keeps
producing). The joining node checks
the archive against its manifest, then the chain against the genesis it was given
(snapshot.py: seal chain from genesis, the state at the last checkpoint against the
commitment in that checkpoint's header, the history against the headers), re-executes the
blocks after the checkpoint, and only then moves the database into its data directory. From
there it follows etcd like any node (and peers, for blocks etcd no longer holds).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger_node.backup import SNAPSHOT_ROUTE, read_manifest, unpack_checked
from ledger_node.datadir import DB_FILE
from ledger_node.genesis import Genesis
from ledger_node.snapshot_check import verify_copy

log = logging.getLogger("ledger_node.network")


class JoinError(ValueError):
    """The snapshot could not be fetched or does not verify: nothing was installed."""


@dataclass
class Joined:
    checkpoint: int
    head: int
    transactions: int
    seconds: float


def fetch_snapshot(peer_url: str, out: Path, timeout: float = 300.0) -> None:
    url = peer_url.rstrip("/") + SNAPSHOT_ROUTE
    try:
        with httpx.stream("GET", url, timeout=timeout) as reply:
            if reply.status_code != 200:
                reply.read()
                raise JoinError(f"{url}: HTTP {reply.status_code}: {reply.text[:200]}")
            with out.open("wb") as f:
                for chunk in reply.iter_bytes(1 << 20):
                    f.write(chunk)
    except httpx.HTTPError as exc:
        raise JoinError(f"could not fetch a snapshot from {url}: {exc}") from None


def join(peer_url: str, data_dir: Path, genesis_text: str) -> Joined:
    """Fetch, verify and install a peer's snapshot as ``data_dir``'s chain."""
    started = time.perf_counter()
    Genesis.from_json(genesis_text)  # a malformed genesis fails before any download
    if (data_dir / DB_FILE).exists():
        raise JoinError(f"{data_dir} already holds a chain: start it with `alliance network node`")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".join-") as tmp:
        work = Path(tmp)
        archive = work / "snapshot.tar.gz"
        fetch_snapshot(peer_url, archive)
        unpacked = work / "db"
        unpacked.mkdir()
        try:
            db, _ = unpack_checked(archive, unpacked, read_manifest(archive))
            archive.unlink()
            checked = verify_copy(unpacked, genesis_text)
        except (ValueError, sqlite3.DatabaseError) as exc:  # BackupError, SnapshotError, SealError
            raise JoinError(f"refusing the snapshot from {peer_url}: {exc}") from None
        os.replace(db, data_dir / DB_FILE)
    return Joined(
        checked.checkpoint, checked.head, checked.transactions, time.perf_counter() - started
    )

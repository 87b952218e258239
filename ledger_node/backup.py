"""Online backup and restore of a node's data directory (``alliance node backup|restore``).

A backup is taken while the node keeps producing: ``VACUUM INTO`` copies the chain database
inside one read transaction, and in WAL mode readers never block the writer, so the copy is
one consistent block height. The archive is a gzip tar of exactly two members::

    manifest.json   {"format", "version", "chain_id", "genesis_hash", "head_number",
                     "head_hash", "db_sha256", "db_bytes", "created_at", "includes_key"}
    chain.sqlite3   the snapshot
    node.key        the sealer key, only with ``--include-key`` (the archive is then 0600)

Restoring checks the archive before anything on disk changes: the members are exactly those,
the database's digest matches the manifest, and the whole chain re-executes from its genesis
(``verify_store``: every seal, hash link and state commitment). Only then is the database
moved into the data directory, where the node started again catches up from the network.
The key stays out of backups by default: it is a sealer's signing key, kept by its operator
apart from the (bulky, widely copied) chain data.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ledger_node.block import Header
from ledger_node.datadir import DB_FILE
from ledger_node.genesis import Genesis
from ledger_node.store import Store

FORMAT = "alliance-node-backup"
VERSION = 1
MANIFEST = "manifest.json"
KEY_FILE = "node.key"
MAX_MANIFEST_BYTES = 64 * 1024
SNAPSHOT_ROUTE = "/snapshot"  # every node serves its backup archive here (a joining node's copy)
SNAPSHOT_STALL_S = 30.0  # a snapshot client that reads nothing for this long is dropped
SNAPSHOT_GRACE_S = 60.0  # ... and one slower than this plus SNAPSHOT_MIN_RATE overall
SNAPSHOT_MIN_RATE = 256 * 1024  # bytes/s: a 200 MB chain gets 60 s + 13 minutes
log = logging.getLogger("ledger_node")


class BackupError(ValueError):
    """An archive that is not a node backup, is damaged, or does not fit the data directory."""


@dataclass(frozen=True)
class Manifest:
    format: str
    version: int
    chain_id: int
    genesis_hash: str
    head_number: int
    head_hash: str
    db_sha256: str
    db_bytes: int
    created_at: int
    includes_key: bool

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            doc: Any = json.loads(raw)
            manifest = cls(**doc)
        except (ValueError, TypeError) as exc:
            raise BackupError(f"the manifest is malformed: {exc}") from None
        if manifest.format != FORMAT or manifest.version != VERSION:
            raise BackupError(f"not a version-{VERSION} {FORMAT} archive")
        return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(db: Path) -> tuple[int, str, int, str]:
    """(chain id, genesis hash, head number, head hash) of a chain database."""
    store = Store(db)
    try:
        raw = store.get_meta("genesis")
        if raw is None:
            raise BackupError(f"{db}: no genesis: not a node's chain database")
        head = store.head_number()
        genesis_hash = Header.decode(store.header(0) or b"").hash
        head_hash = Header.decode(store.header(head) or b"").hash
        return (
            Genesis.from_json(raw).chain_id,
            "0x" + genesis_hash.hex(),
            head,
            "0x" + head_hash.hex(),
        )
    finally:
        store.close()


def backup(data_dir: Path, out: Path, *, include_key: bool = False) -> Manifest:
    """Write a backup archive of ``data_dir`` to ``out`` (atomically: a partial file never
    carries the name); the node may keep running."""
    source = data_dir / DB_FILE
    if not source.exists():
        raise FileNotFoundError(f"no chain in {data_dir}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as tmp:
        snapshot = Path(tmp) / DB_FILE
        # A read-only connection of our own: the node's writes go on meanwhile (WAL).
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("VACUUM INTO ?", (str(snapshot),))
        finally:
            conn.close()
        chain_id, genesis_hash, head, head_hash = _describe(snapshot)
        manifest = Manifest(
            FORMAT,
            VERSION,
            chain_id,
            genesis_hash,
            head,
            head_hash,
            _sha256(snapshot),
            snapshot.stat().st_size,
            int(time.time()),
            include_key,
        )
        partial = Path(tmp) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if include_key else 0o644)
        # Level 1: chain data is mostly ABI padding and hashes; 9 costs several times the
        # time for a few percent (a 100k-transaction chain is hundreds of MB).
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar,
        ):
            _add_bytes(tar, MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
            tar.add(snapshot, arcname=DB_FILE)
            if include_key:
                key = data_dir / KEY_FILE
                if not key.exists():
                    raise FileNotFoundError(f"--include-key: no {KEY_FILE} in {data_dir}")
                tar.add(key, arcname=KEY_FILE)
        os.replace(partial, out)
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def read_manifest(archive: Path) -> Manifest:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            member = tar.getmember(MANIFEST)
            if not member.isfile() or member.size > MAX_MANIFEST_BYTES:
                raise BackupError("the manifest is not a small regular file")
            extracted = tar.extractfile(member)
            assert extracted is not None  # a regular file
            return Manifest.parse(extracted.read())
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise BackupError(f"{archive}: not a node backup archive ({exc})") from None


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    blocks: int
    transactions: int
    replaced: Path | None  # where the data directory's previous chain was moved, if any


def restore(
    archive: Path,
    data_dir: Path,
    *,
    force: bool = False,
    key_file: Path | None = None,
    genesis_text: str | None = None,
) -> Restored:
    """Check ``archive`` whole, then make it ``data_dir``'s chain. An existing chain is kept
    aside (``chain.sqlite3.before-restore-<time>``) only with ``force``; the node must not be
    running. The key comes from the archive, ``key_file``, or stays as it is. The chain is
    checked as a joining node checks a peer's snapshot (``snapshot_check.verify_copy``):
    against ``genesis_text`` (the alliance's genesis file), else the archive's own."""
    from ledger_node.snapshot_check import verify_copy

    if key_file is not None:
        _check_key(key_file)  # before anything on disk changes
    manifest = read_manifest(archive)
    target = data_dir / DB_FILE
    if target.exists() and not force:
        raise BackupError(f"{data_dir} already holds a chain: stop its node and pass --force")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as tmp:
        db, key = unpack_checked(archive, Path(tmp), manifest)
        if genesis_text is None:
            store = Store(db)
            try:
                own = store.get_meta("genesis")
            finally:
                store.close()
            if own is None:
                raise BackupError("the backed-up chain holds no genesis")
            genesis_text = own.decode()
        try:
            report = verify_copy(Path(tmp), genesis_text)
        except (ValueError, sqlite3.DatabaseError) as exc:
            raise BackupError(f"the backed-up chain does not verify: {exc}") from None
        replaced = None
        if target.exists():
            replaced = data_dir / f"{DB_FILE}.before-restore-{int(time.time())}"
            os.replace(target, replaced)
            for suffix in ("-wal", "-shm"):  # the old database's journal is not the new one's
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(db, target)
        if key is not None and key_file is None:
            _check_key(key)
        chosen = key_file or key
        if chosen is not None:
            _install_key(chosen, data_dir / KEY_FILE)
    return Restored(manifest, report.head + 1, report.transactions, replaced)


def unpack_checked(archive: Path, into: Path, manifest: Manifest) -> tuple[Path, Path | None]:
    """Extract the database (and key) into ``into`` and check them against the manifest
    (digest, size, chain id, genesis and head); ``BackupError`` otherwise."""
    db, key = _unpack(archive, into, manifest)
    if _sha256(db) != manifest.db_sha256 or db.stat().st_size != manifest.db_bytes:
        raise BackupError("the chain database does not match the manifest's digest")
    chain_id, genesis_hash, head, head_hash = _describe(db)
    if (chain_id, genesis_hash, head, head_hash) != (
        manifest.chain_id,
        manifest.genesis_hash,
        manifest.head_number,
        manifest.head_hash,
    ):
        raise BackupError("the chain database is not the chain the manifest describes")
    return db, key


def _unpack(archive: Path, into: Path, manifest: Manifest) -> tuple[Path, Path | None]:
    """The database (and key) members, extracted by name only: nothing else, no links."""
    wanted = {DB_FILE, MANIFEST} | ({KEY_FILE} if manifest.includes_key else set())
    found: dict[str, Path] = {}
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name not in wanted or not member.isfile() or member.name in found:
                raise BackupError(f"unexpected archive member {member.name!r}")
            if member.name == MANIFEST:
                found[MANIFEST] = into / MANIFEST
                continue
            source = tar.extractfile(member)
            assert source is not None
            path = into / member.name
            with path.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            found[member.name] = path
    if DB_FILE not in found:
        raise BackupError(f"the archive holds no {DB_FILE}")
    if manifest.includes_key and KEY_FILE not in found:
        raise BackupError(f"the manifest promises {KEY_FILE}, the archive lacks it")
    return found[DB_FILE], found.get(KEY_FILE)


def _check_key(path: Path) -> None:
    from ledger_node.cli import load_key

    load_key(path)  # a secp256k1 key in hex, or a clear error


def _install_key(source: Path, target: Path) -> None:
    fd = os.open(f"{target}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(source.read_text().strip() + "\n")
    os.replace(f"{target}.new", target)


class SnapshotRoute:
    """``GET /snapshot`` on a node: a backup archive of its chain, taken while it runs.

    One at a time (a second request gets 429): each costs a full copy of the database. So a
    client that stops reading must not keep the route (and the copy on disk) for good: a
    write that waits longer than ``stall_timeout_s`` for the client ends the transfer, and
    so does a transfer slower than ``grace_s`` plus ``min_rate`` bytes a second (a client
    that trickles, reading a little before each stall would end it).
    """

    def __init__(
        self,
        data_dir: Path,
        stall_timeout_s: float = SNAPSHOT_STALL_S,
        grace_s: float = SNAPSHOT_GRACE_S,
        min_rate: float = SNAPSHOT_MIN_RATE,
    ) -> None:
        self.data_dir = data_dir
        self.stall_timeout_s, self.grace_s, self.min_rate = stall_timeout_s, grace_s, min_rate
        self._busy = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._busy:
            return web.Response(status=429, text="a snapshot is being taken: retry later")
        self._busy = True
        tmp = Path(tempfile.mkdtemp(dir=self.data_dir, prefix=".snapshot-"))
        try:
            out = tmp / "snapshot.tar.gz"
            manifest = await asyncio.to_thread(backup, self.data_dir, out)
            log.info("serving a snapshot at height %d to %s", manifest.head_number, request.remote)
            reply = web.StreamResponse(
                headers={
                    "Content-Type": "application/gzip",
                    "Content-Length": str(out.stat().st_size),
                }
            )
            await reply.prepare(request)
            deadline = time.monotonic() + self.grace_s + out.stat().st_size / self.min_rate
            with out.open("rb") as f:
                while chunk := await asyncio.to_thread(f.read, 1 << 20):
                    await self._send(request, reply, chunk, deadline)
            await reply.write_eof()
            return reply
        finally:
            self._busy = False
            shutil.rmtree(tmp, ignore_errors=True)

    async def _send(
        self, request: web.Request, reply: web.StreamResponse, chunk: bytes, deadline: float
    ) -> None:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            await asyncio.wait_for(reply.write(chunk), min(self.stall_timeout_s, left))
        except TimeoutError:
            log.warning("snapshot: %s stopped reading or reads too slowly; cut", request.remote)
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("snapshot client too slow") from None

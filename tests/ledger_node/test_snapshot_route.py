"""``GET /snapshot`` serves one archive at a time; a client that stops reading must not keep
it. Before the stall timeout, such a client held the route (and the database copy on disk)
until it went away: every joining node got 429 for as long as it liked."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from aiohttp import web

from ledger_node.backup import SNAPSHOT_ROUTE, SnapshotRoute, read_manifest
from ledger_node.datadir import DB_FILE

from .helpers import make_chain

PADDING_BYTES = 12 * 1024 * 1024  # random: more than loopback's socket buffers can hold


@contextmanager
def serving(route: SnapshotRoute) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get(SNAPSHOT_ROUTE, route.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}{SNAPSHOT_ROUTE}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_client_that_stops_reading_loses_the_snapshot_route(tmp_path: Path) -> None:
    make_chain(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:  # a big chain, as far as copying goes
        db.execute("CREATE TABLE padding (b BLOB)")
        db.execute("INSERT INTO padding VALUES (?)", (os.urandom(PADDING_BYTES),))
    with serving(SnapshotRoute(tmp_path, stall_timeout_s=1.0)) as url:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
        stalled.sendall(b"GET /snapshot HTTP/1.1\r\nHost: node\r\n\r\n")  # and reads nothing
        try:
            deadline = time.monotonic() + 30
            answers = []
            while time.monotonic() < deadline:
                reply = httpx.get(url, timeout=30)
                answers.append(reply.status_code)
                if reply.status_code == 200:
                    break
                time.sleep(0.5)
            assert answers[-1] == 200, answers  # 429 for good before the stall timeout
            assert 429 in answers  # the stalled client did hold it for a while
            (tmp_path / "got.tar.gz").write_bytes(reply.content)
            manifest = read_manifest(tmp_path / "got.tar.gz")
            assert manifest.head_number == 0
            # the stalled client's transfer was cut short: it never gets the whole archive
            stalled.settimeout(5)
            got = 0
            while chunk := stalled.recv(1 << 16):
                got += len(chunk)
            assert got < len(reply.content)
        finally:
            stalled.close()
    assert not list(tmp_path.glob(".snapshot-*"))  # both copies were removed

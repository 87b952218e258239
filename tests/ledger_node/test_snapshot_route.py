"""``GET /snapshot`` serves one archive at a time; a client that stops reading must not keep
it. Before the stall timeout, such a client held the route (and the database copy on disk)
until it went away: every joining node got 429 for as long as it liked."""

from __future__ import annotations

import asyncio
import contextlib
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


def big_chain(data_dir: Path) -> None:
    make_chain(data_dir).close()
    with sqlite3.connect(data_dir / DB_FILE) as db:  # a big chain, as far as copying goes
        db.execute("CREATE TABLE padding (b BLOB)")
        db.execute("INSERT INTO padding VALUES (?)", (os.urandom(PADDING_BYTES),))


def slow_client(url: str, buffer: int = 4096) -> socket.socket:
    """A GET /snapshot whose reader takes what it is given, as slowly as it likes."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    client.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    client.sendall(b"GET /snapshot HTTP/1.1\r\nHost: node\r\n\r\n")
    return client


def download_when_free(url: str, within_s: float) -> tuple[httpx.Response, list[int]]:
    deadline = time.monotonic() + within_s
    answers = []
    while time.monotonic() < deadline:
        reply = httpx.get(url, timeout=30)
        answers.append(reply.status_code)
        if reply.status_code == 200:
            break
        time.sleep(0.5)
    return reply, answers


def test_a_client_that_stops_reading_loses_the_snapshot_route(tmp_path: Path) -> None:
    big_chain(tmp_path)
    with serving(SnapshotRoute(tmp_path, stall_timeout_s=1.0)) as url:
        stalled = slow_client(url)  # and reads nothing
        try:
            reply, answers = download_when_free(url, 30)
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


def test_a_client_that_trickles_loses_the_snapshot_route(tmp_path: Path) -> None:
    """Reading 64 KB every 0.2 s never stalls a 1 MB write for 10 s, but the 12 MB archive
    then takes about 40 s (a real trickler would take hours): the transfer's deadline
    (2 s + 4 MB/s here) ends it."""
    big_chain(tmp_path)
    route = SnapshotRoute(tmp_path, stall_timeout_s=10.0, grace_s=2.0, min_rate=4 * 1024 * 1024)
    with serving(route) as url:
        trickler = slow_client(url, 64 * 1024)
        halt = threading.Event()

        def trickle() -> None:
            with contextlib.suppress(OSError):
                while not halt.is_set() and trickler.recv(64 * 1024):
                    time.sleep(0.2)

        reader = threading.Thread(target=trickle, daemon=True)
        reader.start()
        try:
            _, answers = download_when_free(url, 25)
            assert answers[-1] == 200, answers
            assert 429 in answers
        finally:
            halt.set()
            trickler.close()
            reader.join(5)

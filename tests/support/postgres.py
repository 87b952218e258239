"""A throwaway PostgreSQL server (Debian's `postgresql` package) on 127.0.0.1.

    with running_postgres() as pg:
        engine = create_engine(pg.url)   # postgresql+psycopg://postgres@127.0.0.1:PORT/test

PostgreSQL is a required test dependency (`make setup` installs it from
scripts/apt-packages.txt): without it the tests that need it fail, saying so, rather than skip.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
`postgres` system user (created by the Debian package) over a data dir it owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger_node.network.procs import stop_group


def postgres_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PostgresServer:
    url: str
    port: int
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


MISSING = (
    "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin): "
    "run `make setup`, which installs the Debian package `postgresql` listed in "
    "scripts/apt-packages.txt. The PostgreSQL tests fail rather than skip without it."
)


def require_postgres() -> Path:
    """PostgreSQL's bin directory, or fail the calling test with how to install it."""
    bindir = postgres_bin_dir()
    if bindir is None:
        pytest.fail(MISSING, pytrace=False)
    return bindir


@contextmanager
def running_postgres(database: str = "test") -> Iterator[PostgresServer]:
    bindir = require_postgres()
    prefix = _as_postgres_user()
    with tempfile.TemporaryDirectory(prefix="alliance-pg-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        if prefix:
            shutil.chown(tmp, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        port = _free_port()
        proc = subprocess.Popen(
            [
                *prefix,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                ready = subprocess.run(
                    [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                    capture_output=True,
                    check=False,
                )
                if ready.returncode == 0:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"PostgreSQL did not start: {err[-1500:]}")
                time.sleep(0.1)
            subprocess.run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    database,
                ],
                check=True,
                capture_output=True,
            )
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
            yield PostgresServer(url, port, data)
        finally:
            stop_group(proc)
            if proc.stderr:
                proc.stderr.close()

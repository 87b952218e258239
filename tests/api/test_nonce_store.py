"""The sign-in nonce store in the index database: single use, expiry, shared by several
workers (separate engines on one database), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sharing_api.api.core.security import NonceLimitError, NonceStore
from sharing_api.index import IndexDB
from sharing_api.index.schema import siwe_nonces
from tests.support.postgres import running_postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _check_store(url: str) -> None:
    clock = Clock()
    worker_a, worker_b = IndexDB(url), IndexDB(url)
    try:
        a = NonceStore(worker_a.engine, ttl_s=60, clock=clock)
        b = NonceStore(worker_b.engine, ttl_s=60, clock=clock)
        first, second = a.issue(), a.issue()
        assert first != second
        assert b.consume(first)  # issued by one worker, used at another
        assert not a.consume(first) and not b.consume(first)  # single use
        assert not a.consume("never-issued-0123")
        clock.now += 61
        assert not b.consume(second)  # expired
        # Many workers racing on one nonce: exactly one wins.
        racy = a.issue()
        wins: list[bool] = []
        barrier = threading.Barrier(8)

        def race(store: NonceStore) -> None:
            barrier.wait()
            wins.append(store.consume(racy))

        threads = [threading.Thread(target=race, args=((a, b)[i % 2],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False] * 7 + [True]
        # Issuing sweeps expired rows: the table does not grow without bound.
        for _ in range(5):
            a.issue()
        clock.now += 61
        a.issue()
        with worker_a.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(siwe_nonces)).scalar() == 1
    finally:
        worker_a.close()
        worker_b.close()


def test_nonce_store_on_sqlite(tmp_path: Path) -> None:
    _check_store(f"sqlite:///{tmp_path / 'index.sqlite3'}")


def test_live_nonces_are_bounded(tmp_path: Path) -> None:
    clock = Clock()
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        store = NonceStore(db.engine, ttl_s=60, clock=clock, limit=3)
        issued = [store.issue() for _ in range(3)]
        with pytest.raises(NonceLimitError):
            store.issue()
        assert store.consume(issued[0])
        store.issue()  # room again once one is used
        clock.now += 61
        store.issue()  # or once they expire
    finally:
        db.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with running_postgres() as pg:
        yield pg.url


@pytest.mark.integration
def test_nonce_store_on_postgres(postgres_url: str) -> None:
    _check_store(postgres_url)

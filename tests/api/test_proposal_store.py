"""The referral proposal table on SQLite and PostgreSQL: stored and listed per party, and a
proposal answered once even when answers race (the conditional UPDATE is the lock)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from sharing_api.index.db import IndexDB
from sharing_api.index.proposals import ACCEPTED, ACCEPTING, DECLINED, PENDING, ProposalStore
from tests.support.postgres import running_postgres

PATIENT = "0x" + "aB" * 20
CLINIC = "0x" + "11" * 20
HOSPITAL = "0x" + "22" * 20


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProposalStore]:
    if request.param == "sqlite":
        db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
        yield ProposalStore(db.engine)
        db.close()
        return
    with running_postgres() as pg:
        db = IndexDB(pg.url)
        yield ProposalStore(db.engine)
        db.close()


def _add(store: ProposalStore, patient: str = PATIENT) -> int:
    row = store.add(
        patient=patient,
        referrer=CLINIC,
        receiver=HOSPITAL,
        direction=0,
        record_ids=[3, 1],
        reason="cardiology",
        proposed_by="dr-zhao",
        expires_at=int(time.time()) + 600,
    )
    assert row["status"] == PENDING and row["record_ids"] == [3, 1]
    assert row["patient"] == patient.lower()  # addresses kept lowercase
    return int(row["proposal_id"])


@pytest.mark.integration
def test_store_lists_claims_once_and_releases(store: ProposalStore) -> None:
    first, second = _add(store), _add(store)
    _add(store, patient="0x" + "33" * 20)
    assert [r["proposal_id"] for r in store.list(patient=PATIENT)] == [second, first]
    assert len(store.list(referrer=CLINIC.upper().replace("0X", "0x"))) == 3

    # Eight answers at once: exactly one wins.
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.claim(first, ACCEPTING), range(8)))
    assert wins.count(True) == 1
    assert not store.claim(first, DECLINED)

    store.release(first)  # the chain write failed: pending again
    assert store.get(first)["status"] == PENDING  # type: ignore[index]
    assert store.claim(first, ACCEPTING)
    store.finish(first, status=ACCEPTED, referral_id=7, tx_hash="0x" + "ab" * 32)
    done = store.get(first)
    assert done is not None and done["status"] == ACCEPTED and done["referral_id"] == 7
    store.release(first)  # only an unfinished claim is released
    assert store.get(first)["status"] == ACCEPTED  # type: ignore[index]
    assert store.get(10_000) is None


def test_each_proposal_has_its_own_reason_salt(store: ProposalStore) -> None:
    first, second = (store.get(_add(store)) for _ in range(2))
    assert first is not None and second is not None
    salts = {first["reason_salt"], second["reason_salt"]}
    assert len(salts) == 2 and all(len(bytes.fromhex(s[2:])) == 32 for s in salts)


def test_a_table_from_before_salted_reasons_gets_a_salt_per_proposal(
    store: ProposalStore,
) -> None:
    """A gateway upgraded with proposals pending: the column is added (PostgreSQL and
    SQLite alike) and each waiting proposal gets its own salt, so the patient can sign."""
    proposal_id = _add(store)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE referral_proposals DROP COLUMN reason_salt"))
    upgraded = ProposalStore(store.engine)
    row = upgraded.get(proposal_id)
    assert row is not None and len(bytes.fromhex(row["reason_salt"][2:])) == 32

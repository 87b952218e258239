"""The chain indexer: catches up from the deployment block, resumes after a restart without
re-reading what it stored (on SQLite and on a real PostgreSQL), ends equal to a fresh index,
and gives the same rows on both. PostgreSQL missing is a failure (`make setup`), not a skip."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from sharing_api.audit.pseudonyms import records_under_shared_addresses, shared_addresses
from sharing_api.chain import Basis, ChainClient
from sharing_api.index import IndexDB, Indexer
from sharing_api.sdk import SharingClient
from tests.api.conftest import Cast, known_patient
from tests.support import postgres
from tests.support.api import running_api
from tests.support.postgres import running_postgres

pytestmark = pytest.mark.integration


def _snapshot(db: IndexDB) -> dict[str, Any]:
    return {
        "records": db.records(limit=10_000),
        "consents": db.consents(limit=10_000),
        "referrals": db.referrals(limit=10_000),
        "accesses": db.accesses(limit=10_000),
        # row ids are the database's own; the chain position identifies a change
        "gateways": [{k: v for k, v in r.items() if k != "id"} for r in db.gateway_changes()],
    }


def _indexer(cast: Cast, url: str) -> tuple[IndexDB, Indexer]:
    db = IndexDB(url)
    # web3 on the project's transport, as the gateway builds it (Services.build).
    w3 = ChainClient(cast.alliance.chain_url, Account.create().key).w3
    return db, Indexer(db, w3, cast.alliance.deployment, batch_blocks=50)


def test_the_indexer_reads_logs_raw_on_either_provider(cast: Cast) -> None:
    """web3's log formatters cost more CPU than the rest of the indexing of an access: the
    indexer sends eth_getLogs itself on the project's transport and on web3's HTTP one."""
    for w3 in (
        ChainClient(cast.alliance.chain_url, Account.create().key).w3,
        Web3(Web3.HTTPProvider(cast.alliance.chain_url)),
    ):
        indexer = Indexer(IndexDB("sqlite://"), w3, cast.alliance.deployment)
        assert indexer._rpc is not None
    assert cast.api.services.indexer._rpc is not None


def _chain_counts(cast: Cast) -> tuple[int, int]:
    r = cast.api.services.reader
    return (
        int(r.records._call(r.records.fn.recordCount())),
        int(r.access._call(r.access.fn.accessCount())),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty index database: a SQLite file, or a real PostgreSQL server's database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    with running_postgres() as pg:
        yield pg.url


def test_catches_up_and_resumes(cast: Cast, index_url: str) -> None:
    cast.clinic.upload(
        cast.patient_key.address, "lab", "c1.role:doctor", cast.sealed(b"index-me-1")
    )
    db, indexer = _indexer(cast, index_url)
    head = indexer.sync()
    records, accesses = _chain_counts(cast)
    assert len(db.records(limit=10_000)) == records
    assert len(db.accesses(limit=10_000)) == accesses
    assert db.next_block() == head
    db.close()

    # While it is stopped the chain moves on: a record, a consent, a logged read, a gateway.
    cast.api.services.signer(cast.address("clinic")).registry.set_gateway(
        "https://gw.clinic.example", hashlib.sha256(b"index-me").digest()
    )
    patient = known_patient(cast)
    new = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", cast.sealed(b"index-me-2"))
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    consent = wallet.grant_consent(
        patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )
    wallet.close()
    _, headers = cast.h1_doctor.fetch(new["record_id"])
    records, accesses = _chain_counts(cast)

    # Restart: a new indexer on the same database starts from the stored cursor.
    db2, indexer2 = _indexer(cast, index_url)
    assert db2.next_block() == head
    fetched: list[tuple[int, int]] = []
    original = indexer2._index_range

    def spy(start: int, end: int) -> None:
        fetched.append((start, end))
        original(start, end)

    indexer2._index_range = spy  # type: ignore[method-assign]
    indexer2.sync()
    assert fetched and fetched[0][0] == head  # resumed, did not rescan from the deployment
    rows = db2.records(limit=10_000)
    assert [r["record_id"] for r in rows].count(new["record_id"]) == 1
    assert len(rows) == records
    assert db2.consent(consent["consent_id"]) is not None
    resumed = _snapshot(db2)
    assert int(headers["x-access-id"]) in [a["access_id"] for a in resumed["accesses"]]
    assert len(resumed["accesses"]) == accesses
    assert resumed["gateways"][-1]["url"] == "https://gw.clinic.example"
    # It ends where an index built from scratch ends.
    fresh_db, fresh = _indexer(cast, "sqlite://")
    fresh.sync()
    assert resumed == _snapshot(fresh_db)
    fresh_db.close()
    # Replaying an indexed range is harmless (upserts): no duplicates.
    indexer2._index_range(cast.alliance.deployment.block_number, head - 1)
    assert _snapshot(db2) == resumed
    db2.close()


def test_gateway_directory_changes_are_indexed(cast: Cast) -> None:
    """Every set, move and clear of a member's gateway becomes a row, in chain order."""
    h1, h3 = cast.address("h1"), cast.address("h3")
    fp = hashlib.sha256(b"h1 gateway").digest()
    services = cast.api.services
    first = services.signer(h1).registry.set_gateway("https://gw1.h1.example", fp)
    moved = services.signer(h1).registry.set_gateway("http://127.0.0.1:8701", bytes(32))
    proposed = services.signer(h3).registry.propose_clear_gateway(h1)
    cleared = services.signer(cast.address("clinic")).registry.approve(proposed.proposal_id)
    assert cleared.executed
    db, indexer = _indexer(cast, "sqlite://")
    indexer.sync()
    changes = db.gateway_changes(member=h1)
    assert [(c["url"], c["fingerprint"], c["tx_hash"]) for c in changes] == [
        ("https://gw1.h1.example", "0x" + fp.hex(), first.tx_hash),
        ("http://127.0.0.1:8701", "0x" + "00" * 32, moved.tx_hash),
        (None, None, cleared.sent.tx_hash),
    ]
    assert [c["member"] for c in changes] == [h1.lower()] * 3
    assert [c["block_number"] for c in changes] == [
        first.block_number,
        moved.block_number,
        cleared.sent.block_number,
    ]
    assert db.gateway_changes(member=cast.address("regulator")) == []
    # Replaying the range adds nothing.
    indexer._index_range(cast.alliance.deployment.block_number, indexer.sync() - 1)
    assert db.gateway_changes(member=h1) == changes
    db.close()


def test_postgres_index_and_api(cast: Cast, tmp_path: Path) -> None:
    sqlite_db, sqlite_indexer = _indexer(cast, f"sqlite:///{tmp_path / 'ref.sqlite3'}")
    with running_postgres() as pg:
        pg_db, pg_indexer = _indexer(cast, pg.url)
        sqlite_indexer.sync()
        pg_indexer.sync()
        assert _snapshot(pg_db) == _snapshot(sqlite_db)
        assert _snapshot(pg_db)["records"], "the chain has records to index"
        # The migration count, in SQL on both databases, as the pure rule counts it.
        rows = sqlite_db.records()
        expected = (len(shared_addresses(rows)), records_under_shared_addresses(rows))
        assert pg_db.shared_addresses() == sqlite_db.shared_addresses() == expected
        # The summary's counts, in SQL on both, as counting the rows gives them.
        bg = int(Basis.BREAK_GLASS)
        all_accesses = sqlite_db.accesses()
        counted = {
            "records": len(rows),
            "erased_records": sum(1 for r in rows if r["erased"]),
            "consents": len(sqlite_db.consents()),
            "revoked_consents": sum(1 for c in sqlite_db.consents() if c["revoked"]),
            "referrals": len(sqlite_db.referrals()),
            "accesses": len(all_accesses),
            "break_glass": sum(1 for a in all_accesses if a["basis"] == bg),
            "break_glass_unjustified": sum(
                1 for a in all_accesses if a["basis"] == bg and not a["justified"]
            ),
        }
        assert counted["accesses"] and counted["consents"], "the chain has rows to count"
        assert pg_db.counts(bg) == sqlite_db.counts(bg) == counted
        pg_db.close()
        # The API itself on PostgreSQL: lists and audit come from it.
        settings = cast.alliance.settings(database_url=pg.url)
        with running_api(settings) as api:
            regulator = SharingClient(api.url)
            regulator.login(cast.alliance.keys["regulator"])
            summary = regulator.json("GET", "/audit/summary")
            assert summary["records"] == _chain_counts(cast)[0]
            assert summary["accesses"] == _chain_counts(cast)[1]
            assert summary["records_under_shared_addresses"] == expected[1]
            regulator.close()
    sqlite_db.close()


def test_missing_postgres_fails_with_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """No skip when PostgreSQL is missing: the test fails and says `make setup` installs it."""
    monkeypatch.setattr(postgres, "postgres_bin_dir", lambda: None)
    missing = pytest.raises(pytest.fail.Exception, match=r"make setup.*scripts/apt-packages\.txt")
    with missing, running_postgres():
        pass


def test_fast_decoder_matches_web3(cast: Cast) -> None:
    """The indexer's own log decoder (word slicing, eth_abi for dynamic fields) gives what
    web3's ABI event processing gives, for every event the alliance has emitted so far."""
    patient = known_patient(cast)
    wallet = SharingClient(cast.api.url)
    wallet.login("0x" + bytes(patient.key).hex())
    wallet.grant_consent(
        patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )
    wallet.close()
    rid = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", cast.sealed(b"decode-me"))[
        "record_id"
    ]
    cast.h1_doctor.fetch(rid)
    _db, indexer = _indexer(cast, "sqlite://")
    reader = cast.api.services.reader
    cast.api.services.signer(cast.address("h3")).registry.set_gateway(
        "https://gw.h3.example/decode", hashlib.sha256(b"decode-me").digest()
    )
    wrappers = {
        "AllianceRegistry": reader.registry,
        "ConsentRegistry": reader.consents,
        "RecordRegistry": reader.records,
        "ReferralRegistry": reader.referrals,
        "AccessLog": reader.access,
        "ConsultationRegistry": reader.consultations,
    }
    seen: set[str] = set()
    for log in indexer._get_logs(cast.alliance.deployment.block_number, indexer.sync()):
        decoder = indexer._decoders.get(bytes.fromhex(log["topics"][0][2:]))
        if decoder is None:
            continue
        ours = decoder.decode(log)
        contract = wrappers[decoder.contract].contract
        theirs = contract.events[decoder.name]().process_log(
            {
                **log,
                "topics": [bytes.fromhex(t[2:]) for t in log["topics"]],
                "data": bytes.fromhex(log["data"][2:]),
                "blockNumber": int(log["blockNumber"], 16),
                "logIndex": int(log["logIndex"], 16),
                "transactionIndex": int(log["transactionIndex"], 16),
            }
        )
        expected = {
            k: v.lower() if isinstance(v, str) and v.startswith("0x") else v
            for k, v in theirs["args"].items()
        }
        expected = {k: list(v) if isinstance(v, tuple) else v for k, v in expected.items()}
        assert ours.args == expected, decoder.name
        assert ours.block_number == theirs["blockNumber"]
        assert ours.log_index == theirs["logIndex"]
        seen.add(decoder.name)
    assert {"RecordRegistered", "ConsentGranted", "AccessLogged", "GatewaySet"} <= seen

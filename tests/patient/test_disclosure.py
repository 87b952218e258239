"""The patient's disclosure to the regulator (pure), and the migration count."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from eth_account import Account

from sharing_api.audit.pseudonyms import records_under_shared_addresses, shared_addresses
from sharing_api.index import IndexDB
from sharing_api.index.schema import records
from sharing_api.patient.disclosure import DisclosureError, make_disclosure, verify_disclosure
from sharing_api.patient.pseudonyms import pseudonym_account

PHRASE = "test test test test test test test test test test test junk"
H1, PJ = "0x" + "11" * 20, "0x" + "22" * 20
REG = "0x" + "33" * 20


def disclosure() -> dict:  # type: ignore[type-arg]
    accounts = [pseudonym_account(PHRASE, m) for m in (H1, PJ)]
    return make_disclosure(accounts, REG, 31337, 1_700_000_000)


def test_a_disclosure_verifies_for_its_regulator_and_chain() -> None:
    doc = disclosure()
    assert verify_disclosure(doc, regulator=REG, chain_id=31337) == sorted(
        pseudonym_account(PHRASE, m).address.lower() for m in (H1, PJ)
    )


@pytest.mark.parametrize(
    ("regulator", "chain_id", "why"),
    [("0x" + "44" * 20, 31337, "regulator"), (REG, 1, "chain")],
)
def test_another_regulator_or_chain_refuses_it(regulator: str, chain_id: int, why: str) -> None:
    with pytest.raises(DisclosureError, match=why):
        verify_disclosure(disclosure(), regulator=regulator, chain_id=chain_id)


def test_an_address_that_did_not_sign_is_named() -> None:
    doc = disclosure()
    stranger = Account.create()
    forged = copy.deepcopy(doc)
    forged["addresses"][0] = stranger.address  # claims someone else's address
    with pytest.raises(DisclosureError, match=stranger.address):
        verify_disclosure(forged, regulator=REG, chain_id=31337)
    later = copy.deepcopy(doc)
    later["issued_at"] += 1  # any edit of the statement breaks every signature
    with pytest.raises(DisclosureError, match="did not sign"):
        verify_disclosure(later, regulator=REG, chain_id=31337)
    with pytest.raises(DisclosureError, match="two or more"):
        make_disclosure([Account.create()], REG, 31337, 0)


def test_records_under_shared_addresses_counts_pre_pseudonym_patients() -> None:
    rows = [
        {"patient": "0xaa", "custodian": "0x01"},
        {"patient": "0xaa", "custodian": "0x02"},  # the same address at two custodians
        {"patient": "0xaa", "custodian": "0x02"},
        {"patient": "0xbb", "custodian": "0x01"},  # a pseudonym: one custodian only
        {"patient": "0xbb", "custodian": "0x01"},
    ]
    assert shared_addresses(rows) == {"0xaa"}
    assert records_under_shared_addresses(rows) == 3


def test_the_index_counts_shared_addresses_in_sql(tmp_path: Path) -> None:
    """The console's status asks the database (never loading every record) and gets what
    the pure rule above gets over the same rows."""
    rows = [
        ("0xaa", "0x01"),
        ("0xaa", "0x02"),
        ("0xaa", "0x02"),
        ("0xbb", "0x01"),
        ("0xbb", "0x01"),
        ("0xcc", "0x03"),
        ("0xcc", "0x04"),
    ]
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    assert db.shared_addresses() == (0, 0)
    with db.engine.begin() as conn:
        for n, (patient, custodian) in enumerate(rows, 1):
            conn.execute(
                records.insert().values(
                    record_id=n,
                    patient=patient,
                    custodian=custodian,
                    category=0,
                    content_hash="0x" + "00" * 32,
                    cid="x",
                    policy_commitment="0x" + "00" * 32,
                    supersedes=0,
                    block_number=n,
                    tx_hash="0x" + "00" * 32,
                )
            )
    as_dicts = [{"patient": p, "custodian": c} for p, c in rows]
    assert db.shared_addresses() == (2, records_under_shared_addresses(as_dicts)) == (2, 5)
    db.close()

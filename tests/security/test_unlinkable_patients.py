"""Threat: every member and node operator reads the whole chain. With one stable patient
address, anyone could follow a patient's care from custodian to custodian. With pairwise
pseudonyms (one per custodian, from one recovery phrase) they must not be able to.

The observer here has full JSON-RPC access (every log of every contract, every block,
transaction and receipt) and a member's index database (what a second member's gateway
holds). It is handed one patient's record at the clinic and their record at h1, among
other patients doing the same things at the same time, and tries to link them:

- fields: every 32-byte word and address in every log, every transaction's input, sender
  and recipient, and every index row, of every transaction that mentions the record's
  patient address (numbers below 2^40 aside: ids, counts and times meet by chance). A value
  only these two records share would link them;
- timing within one block: transactions of the two records in one block, sent back to back
  by one sender (consecutive nonces), as a wallet acting at two custodians at once would;
- gas: each transaction's execution gas (gas used less the calldata's cost), which would
  betray per-patient contract state (a returning address's consent is thousands cheaper).

With the shared (pre-pseudonym) address, the field probe links every patient's two records
and gas tells a returning address; with pseudonyms the field probe finds nothing, timing
never pairs a patient's own records, and gas differs only by the signature's random v.

What an observer can still learn (by design, written down here): how many records,
consents and accesses each custodian has, of which coarse category, and when; which
member read which record, for which purpose and on which basis; that a pseudonym's records
all belong to one (unknown) patient at one custodian; order and timing across blocks (a
patient who acts at two custodians in quick succession, while no one else does, stands out
by timing alone); and that two reads by one reader in one access batch were made at the
same moment. Consent times are rounded by the wallet (to the hour, deadlines to 10
minutes) so they do not pair pseudonyms by the second they were signed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from sharing_api.sdk import PatientWallet, SharingClient
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration

CROWD = 4  # other patients doing the same things at the same time
SIGNATURE_BRANCH_GAS = 100


@dataclass
class Patient:
    at_clinic: str  # the patient address the clinic registers under
    at_h1: str
    wallet: PatientWallet | None  # None: one shared (old-design) key
    key: str = ""


def new_patient(pseudonymous: bool) -> Patient:
    if pseudonymous:
        _, phrase = Account.create_with_mnemonic()
        wallet = PatientWallet(phrase)
        return Patient("", "", wallet)
    account = Account.create()
    key = "0x" + bytes(account.key).hex()
    return Patient(account.address, account.address, None, key)


def scenario(cast: Cast, pseudonymous: bool) -> tuple[list[int], list[int], list[Patient]]:
    """Each patient: attested by each custodian, a record at each, a consent at each (signed
    with that custodian's pseudonym), one read of each. Patients act concurrently."""
    clinic, h1, h3 = (cast.address(n) for n in ("clinic", "h1", "h3"))
    patients = [new_patient(pseudonymous) for _ in range(CROWD + 1)]
    for p in patients:
        if p.wallet is not None:
            p.at_clinic, p.at_h1 = p.wallet.address_at(clinic), p.wallet.address_at(h1)

    def each(step: Callable[[Patient], Any]) -> list[Any]:
        with ThreadPoolExecutor(len(patients)) as pool:
            return list(pool.map(step, patients))

    def attest(p: Patient) -> None:
        cast.clinic.attest_patient(p.at_clinic)
        if p.at_h1 != p.at_clinic:
            cast.h1.attest_patient(p.at_h1)  # each custodian attests its own pseudonym

    each(attest)
    policy = "h1.role:doctor or c1.role:doctor"
    sealed = cast.sealed(b"record", policy)
    a = each(lambda p: int(cast.clinic.upload(p.at_clinic, "lab", policy, sealed)["record_id"]))
    b = each(lambda p: int(cast.h1.upload(p.at_h1, "lab", policy, sealed)["record_id"]))

    def consent(p: Patient) -> None:
        with SharingClient(cast.api.url) as me:
            terms: dict[str, Any] = {"categories": ["lab"], "purposes": ["treatment"]}
            if p.wallet is not None:
                p.wallet.login(me, [clinic, h1])
                p.wallet.grant_consent(me, custodian=clinic, grantee=h1, **terms)
                p.wallet.grant_consent(me, custodian=h1, grantee=h3, **terms)
            else:
                me.login(p.key)
                me.grant_consent(p.key, grantee=h1, **terms)
                me.grant_consent(p.key, grantee=h3, **terms)

    each(consent)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(cast.h1_doctor.fetch, a))
        list(pool.map(cast.h3_doctor.fetch, b))
    return a, b, patients


def word(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex().lower()
    return str(value).lower()


class Observer:
    """Everything over JSON-RPC, plus a member's index (its rows of records, consents and
    accesses), read once."""

    def __init__(self, cast: Cast) -> None:
        services = cast.api.services
        services.indexer.sync()
        self.w3 = services.reader.client.w3
        contracts: Any = list(services.deployment.addresses.values())  # every contract
        logs = self.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": contracts})
        self.txs: dict[str, dict[str, Any]] = {}
        for log in logs:
            h = word(log["transactionHash"])
            if h not in self.txs:
                tx = self.w3.eth.get_transaction(log["transactionHash"])
                receipt = self.w3.eth.get_transaction_receipt(log["transactionHash"])
                self.txs[h] = {"tx": tx, "receipt": receipt}
        self.access_log = services.deployment.addresses["AccessLog"].lower()
        index = services.index
        self.records = {int(r["record_id"]): r for r in index.records()}
        self.rows = [*index.consents(), *index.accesses(), *self.records.values()]

    def words_of(self, h: str) -> set[str]:
        """Every 32-byte word and address of one transaction: input, logs, sender, recipient."""
        if "words" not in self.txs[h]:
            self.txs[h]["words"] = self._words(h)
        return set(self.txs[h]["words"])

    def _words(self, h: str) -> set[str]:
        tx, receipt = self.txs[h]["tx"], self.txs[h]["receipt"]
        data = bytes(tx["input"])[4:]
        out = {"0x" + data[i : i + 32].hex() for i in range(0, len(data), 32)}
        out |= {word(tx["from"]), word(tx.get("to") or "")}
        for log in receipt["logs"]:
            out |= {word(t) for t in log["topics"]}
            raw = bytes(log["data"])
            out |= {"0x" + raw[i : i + 32].hex() for i in range(0, len(raw), 32)}
        # Addresses also as 32-byte words, so a padded topic and a plain field meet.
        return out | {"0x" + "0" * 24 + w[2:] for w in out if len(w) == 42}

    def touching(self, address: str) -> list[str]:
        padded = "0x" + "0" * 24 + address.lower()[2:]
        return [h for h in self.txs if padded in self.words_of(h)]

    def fields(self, record_id: int) -> set[str]:
        """Identity fields: the words of the patient's transactions and their index rows
        (block positions and times are the timing probe's)."""
        patient = str(self.records[record_id]["patient"])
        out: set[str] = set()
        for h in self.touching(patient):
            out |= self.words_of(h)
        # Small numbers (ids, counts, enums, times) are not identities: record 15 and
        # consent 15 meet by chance. When things happened is the timing probe's.
        out = {w for w in out if not _small(w)}
        for row in self.rows:
            if str(row.get("patient", "")).lower() == patient.lower():
                values = {word(v) for k, v in row.items() if k not in POSITION}
                out |= {v for v in values if not _small(v)} | {patient.lower()}
        return out

    def positions(self, record_id: int) -> set[tuple[int, str, int]]:
        """(block, sender, sender's nonce) of each of the patient's transactions."""
        patient = str(self.records[record_id]["patient"])
        return {
            (int(tx["blockNumber"]), word(tx["from"]), int(tx["nonce"]))
            for tx in (self.txs[h]["tx"] for h in self.touching(patient))
        }

    def gas(self, address: str) -> dict[str, set[int]]:
        """Per function: execution gas of the transactions naming ``address`` (gas used
        less the calldata's cost, which only tracks the zero bytes of random values).
        Access batches are left out: their gas follows how many reads share one."""
        out: dict[str, set[int]] = defaultdict(set)
        for h in self.touching(address):
            if word(self.txs[h]["tx"]["to"]) == self.access_log:
                continue
            data = bytes(self.txs[h]["tx"]["input"])
            calldata = sum(4 if b == 0 else 16 for b in data)
            out[data[:4].hex()].add(int(self.txs[h]["receipt"]["gasUsed"]) - calldata)
        return out


def _small(value: str) -> bool:
    """A 32-byte word or a decimal that holds a number below 2^40 (uint40 times)."""
    try:
        return int(value, 16 if value.startswith("0x") else 10) < 2**40
    except ValueError:
        return False


POSITION = {"block_number", "log_index", "tx_hash", "timestamp", "id"}


def pair_unique(features: dict[int, set[str]], a: list[int], b: list[int]) -> set[tuple[int, int]]:
    """Pairs (one record of each custodian) sharing a value no other record has."""
    owners: dict[str, set[int]] = defaultdict(set)
    for record, values in features.items():
        for v in values:
            owners[v].add(record)
    return {
        (x, y) for x in a for y in b if any(owners[v] == {x, y} for v in features[x] & features[y])
    }


def by_fields(seen: Observer, a: list[int], b: list[int]) -> set[tuple[int, int]]:
    return pair_unique({r: seen.fields(r) for r in a + b}, a, b)


def by_timing(seen: Observer, a: list[int], b: list[int]) -> set[tuple[int, int]]:
    """Pairs with transactions in one block, sent one right after the other by one sender
    (what a wallet acting at two custodians at once would leave)."""
    at = {r: seen.positions(r) for r in a + b}
    return {
        (x, y)
        for x in a
        for y in b
        if any(
            bx == by and fx == fy and abs(nx - ny) == 1
            for bx, fx, nx in at[x]
            for by, fy, ny in at[y]
        )
    }


def test_the_shared_address_links_a_patients_records(cast: Cast) -> None:
    """The old design: the same field probe finds every patient's pair, and gas tells a
    patient's second consent from a first one (their nonce slot is already set)."""
    a, b, patients = scenario(cast, pseudonymous=False)
    seen = Observer(cast)
    assert set(zip(a, b, strict=True)) <= by_fields(seen, a, b)
    grants = seen.gas(patients[0].at_clinic)
    assert any(max(v) - min(v) > 1000 for v in grants.values()), grants


def test_pseudonyms_cannot_be_linked_by_an_observer(cast: Cast) -> None:
    a, b, patients = scenario(cast, pseudonymous=True)
    assert all(p.at_clinic != p.at_h1 for p in patients)
    seen = Observer(cast)
    assert by_fields(seen, a, b) == set()
    # Timing may pair someone's record with someone else's (a crowd shares blocks and a
    # relayer), but never a patient's own two: their wallet waits for each to be mined.
    assert by_timing(seen, a, b) & set(zip(a, b, strict=True)) == set()
    # Gas: at each custodian, each function costs every pseudonym the same, target and
    # crowd alike (it differs between the custodians' consents: their grantees differ).
    profiles: dict[tuple[str, str], set[int]] = defaultdict(set)
    for p in patients:
        for side, address in (("clinic", p.at_clinic), ("h1", p.at_h1)):
            for selector, values in seen.gas(address).items():
                profiles[side, selector] |= values
    assert len(profiles) >= 6  # attest, register, grant at each
    # A few gas apart at most: Solidity's `v == 27 || v == 28` short-circuits on the
    # signature's random v. Per-patient state (a nonce already set) costs thousands.
    assert all(max(v) - min(v) <= SIGNATURE_BRANCH_GAS for v in profiles.values()), profiles

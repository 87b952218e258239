"""The patient's referral inbox: a member proposes, the patient accepts (EIP-712 signature,
verified by the API, then createWithSig on chain as the referrer) or declines (nothing on
chain). Against the real ledger node, checked on chain through the chain client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.chain import Alliance, ChainClient, Direction, ReferralStatus
from sharing_api.cli.main import cli
from sharing_api.index.db import IndexDB
from sharing_api.index.proposals import ProposalStore
from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


@dataclass
class Patient:
    key: LocalAccount
    client: SharingClient
    records: dict[str, int]  # category -> record id

    @property
    def address(self) -> str:
        return str(self.key.address)

    @property
    def hex_key(self) -> str:
        return "0x" + bytes(self.key.key).hex()


@pytest.fixture
def patient(cast: Cast) -> Iterator[Patient]:
    key = Account.create()
    client = SharingClient(cast.api.url)
    client.login(key.key)
    params = [cast.clinic.authority_params("c1")]
    records = {}
    for category in ("summary", "lab"):
        sealed = cast.clinic.seal(b"{}", "c1.role:doctor", params)
        records[category] = cast.clinic.upload(key.address, category, "c1.role:doctor", sealed)[
            "record_id"
        ]
    try:
        yield Patient(key, client, records)
    finally:
        client.close()


def chain(cast: Cast) -> Alliance:
    client = ChainClient(cast.alliance.chain_url, cast.alliance.keys["regulator"])
    return Alliance(client, cast.alliance.deployment)


def status_of(err: Any) -> int:
    return int(err.value.status)


def propose(cast: Cast, patient: Patient, **extra: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {"categories": ["summary"], "reason": "cardiology: chest pain"}
    terms.update(extra)
    return cast.clinic_doctor.propose_referral(patient.address, cast.address("h3"), **terms)


def test_accept_creates_the_referral_on_chain(cast: Cast, patient: Patient) -> None:
    proposal = propose(cast, patient)
    assert proposal["status"] == "pending"
    assert proposal["referrer"] == cast.address("clinic").lower()
    assert proposal["record_ids"] == [patient.records["summary"]]
    assert proposal["categories"] == ["summary"]
    pid = proposal["proposal_id"]

    inbox = patient.client.referral_proposals()
    assert [p["proposal_id"] for p in inbox] == [pid]

    accepted = patient.client.accept_referral_proposal(patient.hex_key, pid)
    assert accepted["status"] == "accepted"
    fid = accepted["referral_id"]
    assert fid and accepted["tx_hash"].startswith("0x")

    on_chain = chain(cast).referrals.get(fid)
    assert on_chain.patient.lower() == patient.address.lower()
    assert on_chain.referrer.lower() == cast.address("clinic").lower()
    assert on_chain.receiver.lower() == cast.address("h3").lower()
    assert on_chain.status is ReferralStatus.CREATED
    assert on_chain.consent_id == 0  # created with the patient's signature

    # answered once: a second accept or a decline is a conflict
    again_calls: list[Callable[[], Any]] = [
        lambda: patient.client.accept_referral_proposal(patient.hex_key, pid),
        lambda: patient.client.decline_referral_proposal(pid),
    ]
    for again in again_calls:
        with pytest.raises(ApiError) as twice:
            again()
        assert status_of(twice) == 409

    # the referrer sees the outcome; the receiver takes it from there on chain
    mine = {p["proposal_id"]: p for p in cast.clinic.referral_proposals()}
    assert mine[pid]["status"] == "accepted" and mine[pid]["referral_id"] == fid
    assert cast.h3_doctor.json("POST", f"/referrals/{fid}/accept")["status"] == "accepted"
    assert cast.h3_doctor.json("GET", f"/referral-proposals/{pid}")["referral_id"] == fid
    incoming = cast.h3.json("GET", "/referral-proposals", params={"as": "receiver"})
    assert pid in [p["proposal_id"] for p in incoming]
    assert pid not in [p["proposal_id"] for p in cast.h3.referral_proposals()]


def test_decline_puts_nothing_on_chain(cast: Cast, patient: Patient) -> None:
    nonce = chain(cast).referrals.nonce_of(patient.address)
    pid = propose(cast, patient, record_ids=[patient.records["lab"]])["proposal_id"]
    declined = patient.client.decline_referral_proposal(pid, "not now")
    assert declined["status"] == "declined" and declined["note"] == "not now"
    assert declined["referral_id"] is None
    assert chain(cast).referrals.nonce_of(patient.address) == nonce
    assert patient.client.json("GET", "/referrals") == []
    with pytest.raises(ApiError) as late:
        patient.client.accept_referral_proposal(patient.hex_key, pid)
    assert status_of(late) == 409


def test_bad_signature_is_refused_and_nothing_goes_on_chain(cast: Cast, patient: Patient) -> None:
    ref = chain(cast).referrals
    nonce = ref.nonce_of(patient.address)
    pid = propose(cast, patient)["proposal_id"]
    # signed by someone else
    other = "0x" + bytes(Account.create().key).hex()
    with pytest.raises(ApiError) as stranger:
        patient.client.accept_referral_proposal(other, pid)
    assert status_of(stranger) == 400
    # the patient's signature over other terms (a different reason)
    signature = ref.sign_referral(
        patient.hex_key,
        referrer=cast.address("clinic"),
        receiver=cast.address("h3"),
        direction=Direction.UP,
        record_ids=[patient.records["summary"]],
        expires_at=2**39,
        deadline=2**40,
        reason_hash=b"\x01" * 32,
    )
    body = {
        "deadline": 2**40,
        "expires_at": 2**39,
        "signature": {
            "v": signature.v,
            "r": "0x" + signature.r.hex(),
            "s": "0x" + signature.s.hex(),
        },
    }
    with pytest.raises(ApiError) as other_terms:
        patient.client.json("POST", f"/referral-proposals/{pid}/accept", json=body)
    assert status_of(other_terms) == 400
    assert ref.nonce_of(patient.address) == nonce  # no createWithSig went through
    assert patient.client.json("GET", "/referrals") == []
    still = patient.client.json("GET", f"/referral-proposals/{pid}")
    assert still["status"] == "pending"  # the patient may still answer properly
    assert patient.client.accept_referral_proposal(patient.hex_key, pid)["status"] == "accepted"


def test_only_the_parties_see_and_only_the_patient_answers(cast: Cast, patient: Patient) -> None:
    pid = propose(cast, patient)["proposal_id"]
    stranger = SharingClient(cast.api.url)
    stranger.login(Account.create().key)
    try:
        refused_calls: list[Callable[[], Any]] = [
            lambda: stranger.json("GET", f"/referral-proposals/{pid}"),
            lambda: stranger.decline_referral_proposal(pid),
            lambda: cast.h1.json("GET", f"/referral-proposals/{pid}"),
        ]
        for call in refused_calls:
            with pytest.raises(ApiError) as refused:
                call()
            assert status_of(refused) == 403
        assert pid not in [p["proposal_id"] for p in stranger.referral_proposals()]
        assert pid not in [p["proposal_id"] for p in cast.h1.referral_proposals()]
        for member in (cast.clinic, cast.h3):  # referrer and receiver may look
            assert member.json("GET", f"/referral-proposals/{pid}")["proposal_id"] == pid
        with pytest.raises(ApiError) as by_member:
            cast.clinic.json("POST", f"/referral-proposals/{pid}/decline", json={})
        assert status_of(by_member) == 403
        with pytest.raises(ApiError) as by_regulator:
            cast.regulator.propose_referral(patient.address, cast.address("h3"), record_ids=[1])
        assert status_of(by_regulator) == 403
    finally:
        stranger.close()


def test_bad_proposals(cast: Cast, patient: Patient) -> None:
    other = Account.create().address
    cases: list[dict[str, Any]] = [
        {"record_ids": [], "categories": []},  # nothing handed over
        {"categories": ["imaging"]},  # the patient has no imaging record
        {"categories": ["x-ray"]},  # no such category
        {"record_ids": [patient.records["lab"]], "receiver": cast.address("clinic")},  # itself
        {"record_ids": [patient.records["lab"]], "receiver": other},  # not a member
    ]
    for case in cases:
        receiver = case.pop("receiver", cast.address("h3"))
        with pytest.raises(ApiError) as bad:
            cast.clinic.propose_referral(patient.address, receiver, **case)
        assert status_of(bad) == 400, case
    stranger_record = cast.clinic.propose_referral  # a record of someone else
    with pytest.raises(ApiError) as not_theirs:
        stranger_record(other, cast.address("h3"), record_ids=[patient.records["lab"]])
    assert status_of(not_theirs) == 400
    assert patient.client.referral_proposals() == []


def test_propose_on_the_command_line(cast: Cast, patient: Patient, tmp_path: Path) -> None:
    env = {"ALLIANCE_API_URL": cast.api.url, "ALLIANCE_TOKEN": cast.clinic_doctor.token}
    args = ["referral", "propose", "--patient", patient.address, "--receiver"]
    args += [cast.address("h3"), "--categories", "lab", "--reason", "nephrology"]
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    proposed = json.loads(result.stdout)
    assert proposed["record_ids"] == [patient.records["lab"]]
    assert proposed["status"] == "pending" and proposed["reason"] == "nephrology"
    listed = CliRunner().invoke(cli, ["referral", "proposals"], env=env, catch_exceptions=False)
    assert proposed["proposal_id"] in [p["proposal_id"] for p in json.loads(listed.stdout)]
    key_file = tmp_path / "patient.key"
    key_file.write_text(patient.hex_key)
    inbox = CliRunner().invoke(
        cli,
        ["referral", "proposals", "--key-file", str(key_file)],
        env={"ALLIANCE_API_URL": cast.api.url},
        catch_exceptions=False,
    )
    assert [p["proposal_id"] for p in json.loads(inbox.stdout)] == [proposed["proposal_id"]]


def test_an_expired_proposal_cannot_be_answered(cast: Cast, patient: Patient) -> None:
    pid = propose(cast, patient)["proposal_id"]
    db = IndexDB(cast.alliance.settings().resolved_database_url())
    try:  # the proposal's time runs out (the same table the API reads)
        ProposalStore(db.engine).finish(pid, expires_at=int(time.time()) - 1)
    finally:
        db.close()
    (shown,) = patient.client.referral_proposals()
    assert shown["proposal_id"] == pid and shown["status"] == "expired"
    for answer in ("accept", "decline"):
        with pytest.raises(ApiError) as late:
            if answer == "accept":
                patient.client.accept_referral_proposal(patient.hex_key, pid)
            else:
                patient.client.decline_referral_proposal(pid)
        assert status_of(late) == 409

"""A referral from custodian A (h1, its own gateway) to B (the clinic, on the cloud gateway)
for a patient with pairwise pseudonyms: A's records are under the patient's A-pseudonym, the
proposal names it, and B's new records go under the B-pseudonym. The patient signs in once
at their home gateway (the cloud one), proving every pseudonym, sees A's proposal in the
inbox and answers it with the A-pseudonym's key; nothing the referral puts on chain names
the B-pseudonym or the primary. Then the threats: a token that did not prove a pseudonym,
a relay presenting statements it was not given, more statements than the bound."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from sharing_api.auth.pseudonym_proofs import MAX_PSEUDONYMS
from sharing_api.chain import Alliance, ChainClient, ReferralStatus
from sharing_api.cli.main import main
from sharing_api.gateway.inbox_auth import decline_text, inbox_text, sign_relay, sign_text
from sharing_api.sdk import ApiError, PatientWallet, SharingClient
from tests.gateway.conftest import Gateways

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor or c1.role:doctor"
REASON = "suspected heart failure, echo and follow-up at the clinic"


@dataclass
class Patient:
    wallet: PatientWallet
    phrase_file: Path
    at_a: str  # the A-pseudonym (h1 keeps records under it)
    at_b: str  # the B-pseudonym (the clinic)
    record_a: int


@pytest.fixture
def patient(gateways: Gateways, tmp_path: Path) -> Patient:
    _, phrase = Account.create_with_mnemonic()
    wallet = PatientWallet(phrase)
    phrase_file = tmp_path / "recovery.txt"
    phrase_file.write_text(phrase)
    phrase_file.chmod(0o600)
    h1, clinic = gateways.alliance.address("h1"), gateways.alliance.address("clinic")
    at_a, at_b = wallet.address_at(h1), wallet.address_at(clinic)
    with gateways.member("h1") as hospital:
        hospital.attest_patient(at_a)
        sealed = SharingClient.seal(b'{"resourceType": "Bundle"}', POLICY, _params(gateways))
        record_a = int(hospital.upload(at_a, "summary", POLICY, sealed)["record_id"])
    return Patient(wallet, phrase_file, at_a, at_b, record_a)


def _params(g: Gateways) -> list[Any]:
    with g.member("clinic") as clinic:
        return [clinic.authority_params(a) for a in ("c1", "h1")]


@pytest.fixture
def home(gateways: Gateways, patient: Patient) -> Iterator[SharingClient]:
    """The patient's one sign-in at their home gateway, every pseudonym proven."""
    client = SharingClient(gateways.cloud.url, verify=gateways.cloud.verify)
    patient.wallet.login(client)
    try:
        yield client
    finally:
        client.close()


def _find(inbox: dict[str, Any], referrer: str, proposal_id: int) -> dict[str, Any]:
    found = [
        p
        for p in inbox["proposals"]
        if p["referrer"] == referrer.lower() and p["proposal_id"] == proposal_id
    ]
    assert len(found) == 1, inbox
    one: dict[str, Any] = found[0]
    return one


def _words(w3: Any, addresses: list[str]) -> list[set[str]]:
    """Each log of these contracts as the set of its 32-byte words (topics, data) and its
    transaction's input words."""
    out = []
    for log in w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": addresses}):
        raw = bytes(log["data"])
        words = {"0x" + bytes(t).hex() for t in log["topics"]}
        words |= {"0x" + raw[i : i + 32].hex() for i in range(0, len(raw), 32)}
        data = bytes(w3.eth.get_transaction(log["transactionHash"])["input"])[4:]
        words |= {"0x" + data[i : i + 32].hex() for i in range(0, len(data), 32)}
        out.append(words)
    return out


def _padded(address: str) -> str:
    return "0x" + "0" * 24 + address.lower()[2:]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_referral_from_a_to_b_with_pseudonyms_end_to_end(
    gateways: Gateways,
    patient: Patient,
    home: SharingClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    g, p = gateways, patient
    h1, clinic = g.alliance.address("h1"), g.alliance.address("clinic")
    with g.member("h1") as hospital:
        proposal = hospital.propose_referral(p.at_a, clinic, record_ids=[p.record_a], reason=REASON)
        other = hospital.propose_referral(p.at_a, clinic, record_ids=[p.record_a])
    assert proposal["patient"] == p.at_a.lower()

    # The primary's statement alone finds nothing: the proposal names the A-pseudonym.
    alone = home.referral_inbox(p.wallet.primary_key)
    assert [q for q in alone["proposals"] if q["referrer"] == h1.lower()] == []
    inbox = p.wallet.referral_inbox(home)
    assert inbox["unreachable"] == []
    shown = _find(inbox, h1, proposal["proposal_id"])
    assert shown["patient"] == p.at_a.lower() and shown["origin_url"] == g.h1.url
    assert shown["reason"] == REASON and shown["status"] == "pending"

    accepted = p.wallet.accept_proposal(home, shown)  # signed by the A-pseudonym's key
    assert accepted["status"] == "accepted" and accepted["patient"] == p.at_a.lower()
    referral_id = int(accepted["referral_id"])
    chain = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["regulator"]), g.alliance.deployment
    )
    referral = chain.referrals.get(referral_id)
    assert referral.patient.lower() == p.at_a.lower()
    assert referral.referrer.lower() == h1.lower() and referral.receiver.lower() == clinic.lower()

    # The other proposal: declined on the command line from the recovery phrase (the CLI
    # signs in at the home gateway and signs the decline with the A-pseudonym).
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    monkeypatch.setenv("ALLIANCE_API_URL", g.cloud.url)
    monkeypatch.setenv("ALLIANCE_API_CA", str(g.cloud.cert))
    phrase = ["--mnemonic-file", str(p.phrase_file)]
    status, out, err = _cli(["referral", "proposals", *phrase], capsys)
    assert status == 0, err
    listed = _find(json.loads(out), h1, other["proposal_id"])
    assert listed["patient"] == p.at_a.lower() and listed["status"] == "pending"
    decline = ["referral", "proposal-decline", str(other["proposal_id"]), "--referrer", h1]
    status, out, err = _cli([*decline, "--note", "not now", *phrase], capsys)
    assert status == 0, err
    assert json.loads(out)["status"] == "declined" and "declined" in err
    with g.member("h1") as hospital:
        at_a = {q["proposal_id"]: q for q in hospital.referral_proposals()}
    assert at_a[other["proposal_id"]]["status"] == "declined"
    assert at_a[other["proposal_id"]]["note"] == "not now"
    status, _, err = _cli(["referral", "proposal-accept", "987654", *phrase], capsys)
    assert status == 1 and "error: no proposal 987654 in your inbox" in err

    # B accepts the referral and reads A's record on that basis, from A's gateway.
    with g.member("clinic") as receiver:
        receiver.accept_referral(referral_id)
        doctor = receiver.staff_client("dr-zhao", "doctor", ["dept:gp"])
        data, headers = doctor.fetch(p.record_a, referral_id=referral_id, purpose="referral")
        assert SharingClient.open(data, doctor.issue_my_key()) == b'{"resourceType": "Bundle"}'
        access_id = int(headers["x-access-id"])
        # B's own records go under the B-pseudonym, which the patient shows at the desk.
        status, out, err = _cli(["patient", "pseudonym", "--custodian", clinic, *phrase], capsys)
        assert status == 0 and out.strip() == p.at_b, err
        receiver.attest_patient(out.strip())
        sealed = SharingClient.seal(b'{"resourceType": "Bundle"}', POLICY, _params(g))
        record_b = int(doctor.upload(out.strip(), "summary", POLICY, sealed)["record_id"])
        texts = {t.kind: t for t in receiver.referral_texts(referral_id)}  # fetched from A
        assert texts["reason"].text == REASON and texts["reason"].matches_chain
        doctor.close()

    # One sign-in lists the records at both custodians, B's read of A's, and the texts.
    mine = {int(r["record_id"]): r for r in home.json("GET", "/patients/me/records")}
    assert mine[p.record_a]["patient"] == p.at_a.lower()
    assert mine[record_b]["patient"] == p.at_b.lower()
    reads = [a for a in home.json("GET", "/patients/me/accesses") if a["access_id"] == access_id]
    assert reads and reads[0]["basis"] == "referral"
    assert reads[0]["reader"] == clinic.lower()
    mine_texts = {t.kind: t for t in home.referral_texts(referral_id)}
    assert mine_texts["reason"].text == REASON and mine_texts["reason"].matches_chain

    # The patient ends the referral, signed by the A-pseudonym (its nonce, not the primary's).
    withdrawn = p.wallet.withdraw_referral(home, referral_id)
    assert withdrawn["status"] == "withdrawn"
    assert chain.referrals.get(referral_id).status is ReferralStatus.WITHDRAWN
    with g.member("clinic") as receiver, pytest.raises(ApiError) as ended:
        receiver.staff_client("dr-zhao", "doctor", ["dept:gp"]).fetch(
            p.record_a, referral_id=referral_id, purpose="referral"
        )
    assert ended.value.status == 403

    # Nothing the referral put on chain names the B-pseudonym or the primary; its
    # ReferralCreated names the A-pseudonym.
    addresses = g.alliance.deployment.addresses
    logs = _words(chain.client.w3, [addresses["ReferralRegistry"], addresses["AccessLog"]])
    assert logs and any(_padded(p.at_a) in words for words in logs)
    for hidden in (p.at_b, p.wallet.address):
        assert not any(_padded(hidden) in words for words in logs), hidden
    (created,) = [
        e
        for e in chain.referrals.events("ReferralCreated")
        if int(e.args["referralId"]) == referral_id
    ]
    assert str(created.args["patient"]).lower() == p.at_a.lower()


# ---- threats ---------------------------------------------------------------------------------

INBOX = "/gateway/referral-proposals/inbox"


def _statement(g: Gateways, key: str, patient: str, relay: str, expires: int) -> dict[str, Any]:
    """An inbox statement naming ``patient`` and ``relay``, signed by ``key`` (for records
    kept at h1)."""
    chain_id = g.alliance.deployment.chain_id
    text = inbox_text(patient, g.alliance.address(relay), chain_id, expires)
    return {
        "patient": patient,
        "custodian": g.alliance.address("h1"),
        "expires": expires,
        "signature": sign_text(key, text),
    }


def _at_a_status(g: Gateways, proposal_id: int) -> str:
    with g.member("h1") as hospital:
        return str(
            {q["proposal_id"]: q for q in hospital.referral_proposals()}[proposal_id]["status"]
        )


def test_a_token_cannot_list_or_answer_for_a_pseudonym_it_did_not_prove(
    gateways: Gateways, patient: Patient, home: SharingClient
) -> None:
    g, p = gateways, patient
    h1 = g.alliance.address("h1")
    with g.member("h1") as hospital:
        pid = hospital.propose_referral(
            p.at_a, g.alliance.address("clinic"), record_ids=[p.record_a]
        )["proposal_id"]
    shown = _find(p.wallet.referral_inbox(home), h1, pid)  # the full sign-in sees it
    key_a = p.wallet.key_at(h1)
    accept = home._referral_consent(key_a, shown, 600)  # a valid ReferralConsent by P's key
    chain = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["regulator"]), g.alliance.deployment
    )
    nonce = chain.referrals.nonce_of(p.at_a)

    # Signed in proving the clinic's pseudonym only: the A-pseudonym is not this token's.
    with SharingClient(g.cloud.url, verify=g.cloud.verify) as partial:
        p.wallet.login(partial, [g.alliance.address("clinic")])
        relay = partial.json("GET", "/patients/me/signing")["inbox_relay"]
        soon = int(time.time()) + 300
        chain_id = g.alliance.deployment.chain_id
        body = {
            "expires": soon,
            "signature": sign_text(
                p.wallet.primary_key, inbox_text(p.wallet.address, relay, chain_id, soon)
            ),
            "pseudonyms": [
                {
                    "patient": p.at_a,
                    "custodian": h1,
                    "expires": soon,
                    "signature": sign_text(key_a, inbox_text(p.at_a, relay, chain_id, soon)),
                }
            ],
        }
        with pytest.raises(ApiError) as listed:
            partial.json("POST", "/patients/me/referral-inbox", json=body)
        assert listed.value.status == 400
        assert f"{p.at_a} is not a pseudonym proven at sign-in" in str(listed.value)
        # Its own pseudonym's statement in place of P's is fine, and shows nothing of P's.
        own = partial.referral_inbox(
            p.wallet.primary_key,
            pseudonym_keys={
                g.alliance.address("clinic"): p.wallet.key_at(g.alliance.address("clinic"))
            },
        )
        assert [q for q in own["proposals"] if q["patient"] == p.at_a.lower()] == []

        path = f"/patients/me/referral-inbox/{h1}/{pid}"
        with pytest.raises(ApiError) as accepted:
            partial.json("POST", path + "/accept", json={**accept, "patient": p.at_a})
        assert accepted.value.status == 403
        with pytest.raises(ApiError) as as_primary:  # no patient: the primary, not P
            partial.json("POST", path + "/accept", json=accept)
        assert as_primary.value.status == 403
        decline = decline_text(p.at_a, h1, pid, "", chain_id, soon)
        with pytest.raises(ApiError) as declined:
            partial.json(
                "POST",
                path + "/decline",
                json={
                    "note": "",
                    "expires": soon,
                    "signature": sign_text(key_a, decline),
                    "patient": p.at_a,
                },
            )
        assert declined.value.status == 403
    assert _at_a_status(g, pid) == "pending"
    assert chain.referrals.nonce_of(p.at_a) == nonce


def _peer_inbox(g: Gateways, body: dict[str, Any]) -> httpx.Response:
    """Ask A (h1's gateway) directly, as the clinic relaying (its own member key)."""
    raw = json.dumps(body).encode()
    clinic_key = bytes.fromhex(g.alliance.keys["clinic"].removeprefix("0x"))
    headers = sign_relay(clinic_key, g.alliance.address("h1"), "POST", INBOX, raw)
    return httpx.post(
        g.h1.url + INBOX,
        content=raw,
        headers={**headers, "Content-Type": "application/json"},
        verify=g.h1.verify,
        timeout=30,
    )


def test_a_relay_cannot_present_statements_it_did_not_get(
    gateways: Gateways, patient: Patient
) -> None:
    """The clinic relays to h1's gateway: only the pseudonyms' own statements, naming the
    clinic as relay, are honoured; one forged or borrowed statement refuses the request."""
    g, p = gateways, patient
    h1 = g.alliance.address("h1")
    with g.member("h1") as hospital:
        pid = hospital.propose_referral(
            p.at_a, g.alliance.address("clinic"), record_ids=[p.record_a]
        )["proposal_id"]
    soon = int(time.time()) + 300
    key_a = p.wallet.key_at(h1)
    primary = _statement(g, p.wallet.primary_key, p.wallet.address, "clinic", soon)
    top = {"patient": p.wallet.address, "expires": soon, "signature": primary["signature"]}

    ok = _peer_inbox(g, {**top, "pseudonyms": [_statement(g, key_a, p.at_a, "clinic", soon)]})
    assert ok.status_code == 200, ok.text
    assert [(q["proposal_id"], q["patient"]) for q in ok.json()["proposals"]] == [
        (pid, p.at_a.lower())
    ]
    # Today's primary-only body still works (and finds nothing under the primary).
    assert _peer_inbox(g, top).json() == {"proposals": [], "labels": []}

    genuine = _statement(g, key_a, p.at_a, "clinic", soon)
    refusals = {
        "signed by the relay itself": _statement(
            g, g.alliance.keys["clinic"], p.at_a, "clinic", soon
        ),
        "made for another relay": _statement(g, key_a, p.at_a, "h3", soon),
        "another address's statement": {**genuine, "patient": p.at_b},
        "signed by a stranger": _statement(g, Account.create().key, p.at_a, "clinic", soon),
    }
    for why, entry in refusals.items():
        refused = _peer_inbox(g, {**top, "pseudonyms": [entry]})
        assert refused.status_code == 403, (why, refused.text)
        assert "proposals" not in refused.json() and "labels" not in refused.json(), why
    twice = _peer_inbox(g, {**top, "pseudonyms": [genuine, genuine]})
    assert twice.status_code == 403 and "listed twice" in twice.json()["detail"]


def test_more_statements_than_the_bound_are_refused(
    gateways: Gateways, patient: Patient, home: SharingClient
) -> None:
    g, p = gateways, patient
    soon = int(time.time()) + 300
    fillers = [
        _statement(g, key.key, key.address, "clinic", soon)
        for key in (Account.create() for _ in range(MAX_PSEUDONYMS + 1))
    ]
    primary = _statement(g, p.wallet.primary_key, p.wallet.address, "clinic", soon)
    top = {"expires": soon, "signature": primary["signature"]}
    with pytest.raises(ApiError) as at_home:
        home.json("POST", "/patients/me/referral-inbox", json={**top, "pseudonyms": fillers})
    assert at_home.value.status == 422
    assert f"at most {MAX_PSEUDONYMS} items" in str(at_home.value)
    at_peer = _peer_inbox(g, {**top, "patient": p.wallet.address, "pseudonyms": fillers})
    assert at_peer.status_code == 422, at_peer.text
    assert f"at most {MAX_PSEUDONYMS} items" in at_peer.json()["detail"]
    # At the bound, each statement is checked (here: none of them this token's).
    with pytest.raises(ApiError) as at_bound:
        home.json("POST", "/patients/me/referral-inbox", json={**top, "pseudonyms": fillers[:-1]})
    assert at_bound.value.status == 400 and "not a pseudonym proven" in str(at_bound.value)
    with pytest.raises(ApiError) as itself:  # the primary is the top-level statement only
        home.json("POST", "/patients/me/referral-inbox", json={**top, "pseudonyms": [primary]})
    assert itself.value.status == 400 and "is the signed-in address" in str(itself.value)

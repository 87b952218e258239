"""The patient sees one alliance: the wallet's own gateway (the cloud gateway, B) lists the
patient's referral proposals held by every gateway and answers those made at another (h1's
gateway, A). Peers answer only with the patient's signed statement, relayed by a member;
a peer that is down leaves a partial inbox that says so."""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.chain import Alliance, ChainClient, ReferralStatus
from sharing_api.gateway.inbox_auth import decline_text, inbox_text, sign_relay, sign_text
from sharing_api.sdk import ApiError, SharingClient
from tests.gateway.conftest import Gateways

pytestmark = pytest.mark.integration
H1_NAME = "City Third People's Hospital"
POLICY = "h1.role:doctor"
INBOX = "/gateway/referral-proposals/inbox"


@dataclass
class Patient:
    key: LocalAccount
    wallet: SharingClient  # signed in at the cloud gateway (B), the patient's own
    record_id: int  # held by h1 (A)

    @property
    def address(self) -> str:
        return str(self.key.address)


@pytest.fixture
def patient(gateways: Gateways) -> Iterator[Patient]:
    key = Account.create()
    h1 = gateways.member("h1")
    sealed = SharingClient.seal(b"{}", POLICY, [h1.authority_params("h1")])
    record_id = int(h1.upload(key.address, "summary", POLICY, sealed)["record_id"])
    wallet = gateways.client(gateways.cloud, key.key)
    try:
        yield Patient(key, wallet, record_id)
    finally:
        wallet.close()


@pytest.fixture
def g(gateways: Gateways) -> Gateways:
    return gateways


@pytest.fixture
def p(patient: Patient) -> Patient:
    return patient


def _propose(g: Gateways, member: str, p: Patient, receiver: str, **terms: Any) -> dict[str, Any]:
    out: dict[str, Any] = g.member(member).propose_referral(
        p.address, g.alliance.address(receiver), record_ids=[p.record_id], **terms
    )
    return out


def _find(inbox: dict[str, Any], referrer: str, proposal_id: int) -> dict[str, Any]:
    found = [
        p
        for p in inbox["proposals"]
        if p["referrer"] == referrer.lower() and p["proposal_id"] == proposal_id
    ]
    assert len(found) == 1, inbox
    one: dict[str, Any] = found[0]
    return one


def test_wallet_at_b_lists_and_answers_proposals_made_at_a(g: Gateways, p: Patient) -> None:
    h1, clinic = g.alliance.address("h1"), g.alliance.address("clinic")
    remote = _propose(g, "h1", p, "clinic", direction="down", reason="follow-up at home")
    other = _propose(g, "h1", p, "h3")
    local = _propose(g, "clinic", p, "h1")  # made at B itself
    # Local proposal ids at A and B are counted apart.
    assert p.wallet.referral_proposals()[0]["proposal_id"] == local["proposal_id"]

    inbox = p.wallet.referral_inbox(p.key.key)
    assert inbox["unreachable"] == []
    shown = _find(inbox, h1, remote["proposal_id"])
    assert shown["origin_url"] == g.h1.url and shown["referrer_name"] == H1_NAME
    assert shown["status"] == "pending" and shown["reason"] == "follow-up at home"
    assert _find(inbox, clinic, local["proposal_id"])["origin_url"] == ""
    assert {(q["referrer"], q["proposal_id"]) for q in inbox["proposals"]} == {
        (h1.lower(), remote["proposal_id"]),
        (h1.lower(), other["proposal_id"]),
        (clinic.lower(), local["proposal_id"]),
    }

    accepted = p.wallet.accept_inbox_proposal(p.key.key, shown)
    assert accepted["status"] == "accepted" and accepted["referrer"] == h1.lower()
    chain = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["regulator"]), g.alliance.deployment
    )
    referral = chain.referrals.get(int(accepted["referral_id"]))
    assert referral.referrer.lower() == h1.lower()  # created on chain by A's member
    assert (
        referral.receiver.lower() == clinic.lower()
        and referral.patient.lower() == p.address.lower()
    )
    assert referral.status is ReferralStatus.CREATED
    # A itself records the answer; a second accept is a conflict from A, passed through B.
    at_a = {q["proposal_id"]: q for q in g.member("h1").referral_proposals()}
    assert at_a[remote["proposal_id"]]["referral_id"] == accepted["referral_id"]
    with pytest.raises(ApiError) as twice:
        p.wallet.accept_inbox_proposal(p.key.key, shown)
    assert twice.value.status == 409

    nonce = chain.referrals.nonce_of(p.address)
    declined = p.wallet.decline_inbox_proposal(
        p.key.key, _find(inbox, h1, other["proposal_id"]), "closer to home"
    )
    assert declined["status"] == "declined" and declined["note"] == "closer to home"
    assert at_a_status(g, other["proposal_id"]) == "declined"
    assert chain.referrals.nonce_of(p.address) == nonce  # nothing on chain

    after = p.wallet.referral_inbox(p.key.key)
    assert _find(after, h1, remote["proposal_id"])["status"] == "accepted"
    assert _find(after, h1, other["proposal_id"])["status"] == "declined"
    assert _find(after, clinic, local["proposal_id"])["status"] == "pending"


def at_a_status(g: Gateways, proposal_id: int) -> str:
    return str(
        {q["proposal_id"]: q for q in g.member("h1").referral_proposals()}[proposal_id]["status"]
    )


def _peer_inbox(
    g: Gateways, relay_key: str, patient: str, expires: int, signature: str
) -> httpx.Response:
    """Ask A (h1's gateway) directly, as a member relaying for ``patient``."""
    body = json.dumps({"patient": patient, "expires": expires, "signature": signature}).encode()
    headers = sign_relay(
        bytes.fromhex(relay_key.removeprefix("0x")), g.alliance.address("h1"), "POST", INBOX, body
    )
    return httpx.post(
        g.h1.url + INBOX,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        verify=g.h1.verify,
        timeout=30,
    )


def _statement(g: Gateways, signer: Any, patient: str, relay: str, expires: int) -> str:
    chain_id = g.alliance.deployment.chain_id
    return sign_text(signer, inbox_text(patient, g.alliance.address(relay), chain_id, expires))


def test_a_peer_answers_only_with_the_patients_own_statement(g: Gateways, p: Patient) -> None:
    pid = _propose(g, "h1", p, "clinic")["proposal_id"]
    clinic_key = g.alliance.keys["clinic"]
    soon = int(time.time()) + 300

    # The control: the patient's statement naming the clinic as relay, relayed by the clinic.
    good = _statement(g, p.key.key, p.address, "clinic", soon)
    ok = _peer_inbox(g, clinic_key, p.address, soon, good)
    assert ok.status_code == 200, ok.text
    assert [q["proposal_id"] for q in ok.json()["proposals"]] == [pid]

    refusals = {
        # a member asking on its own: the statement is signed by the member, not the patient
        "no patient signature": _statement(g, clinic_key, p.address, "clinic", soon),
        # the patient's statement for another relay (h3), replayed by the clinic
        "another audience": _statement(g, p.key.key, p.address, "h3", soon),
        # signed for one patient, presented for another
        "forged": _statement(g, Account.create().key, p.address, "clinic", soon),
    }
    for why, signature in refusals.items():
        refused = _peer_inbox(g, clinic_key, p.address, soon, signature)
        assert refused.status_code == 403, (why, refused.text)
        assert "proposals" not in refused.json(), why
    past = int(time.time()) - 1
    expired = _peer_inbox(
        g, clinic_key, p.address, past, _statement(g, p.key.key, p.address, "clinic", past)
    )
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    far = int(time.time()) + 3600
    too_long = _peer_inbox(
        g, clinic_key, p.address, far, _statement(g, p.key.key, p.address, "clinic", far)
    )
    assert too_long.status_code == 403 and "600 s" in too_long.json()["detail"]

    # Without a member's relay signature: 401; signed by a non-member: 403.
    bare = httpx.post(
        g.h1.url + INBOX,
        json={"patient": p.address, "expires": soon, "signature": good},
        verify=g.h1.verify,
    )
    assert bare.status_code == 401
    stranger = Account.create()
    outsider = _peer_inbox(g, "0x" + bytes(stranger.key).hex(), p.address, soon, good)
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]

    # The home gateway refuses a statement that is not the signed-in patient's before asking.
    with pytest.raises(ApiError) as home:
        p.wallet.json(
            "POST",
            "/patients/me/referral-inbox",
            json={
                "expires": soon,
                "signature": _statement(g, Account.create().key, p.address, "clinic", soon),
            },
        )
    assert home.value.status == 400


def test_a_down_peer_leaves_a_partial_inbox_that_says_so(g: Gateways, p: Patient) -> None:
    local = _propose(g, "clinic", p, "h1")
    remote = _propose(g, "h1", p, "clinic")
    g.h1.stop()
    try:
        started = time.monotonic()
        inbox = p.wallet.referral_inbox(p.key.key)
        assert time.monotonic() - started < 10
    finally:
        g.h1.start()
    assert [(q["referrer"], q["proposal_id"]) for q in inbox["proposals"]] == [
        (g.alliance.address("clinic").lower(), local["proposal_id"])
    ]
    (down,) = inbox["unreachable"]
    assert down["gateway_url"] == g.h1.url and down["names"] == [H1_NAME]
    assert "cannot reach" in down["detail"]
    # Back up: the whole inbox again.
    again = p.wallet.referral_inbox(p.key.key)
    assert again["unreachable"] == []
    _find(again, g.alliance.address("h1"), remote["proposal_id"])


def test_a_peer_that_never_answers_does_not_hold_the_inbox(g: Gateways, p: Patient) -> None:
    """The clinic's directory entry points at a socket that takes connections and says
    nothing: the inbox at h1 still answers within its bound, with h3's proposal (asked at
    the cloud gateway in parallel) and a note naming the silent one."""
    home = g.client(g.h1, p.key.key)
    made = g.member("h3").propose_referral(
        p.address, g.alliance.address("h1"), record_ids=[p.record_id]
    )
    clinic = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["clinic"]), g.alliance.deployment
    )
    good = clinic.registry.gateway_of(clinic.client.address)
    assert good is not None
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; no byte ever comes back
        silent_url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        clinic.registry.set_gateway(silent_url, secrets.token_bytes(32))
        try:
            started = time.monotonic()
            inbox = home.referral_inbox(p.key.key)
            took = time.monotonic() - started
        finally:
            clinic.registry.set_gateway(good.url, good.fingerprint)
    assert took < 10, took  # inbox_timeout_s (5 s) + 1 s, not the 30 s peer timeout
    assert [(q["referrer"], q["proposal_id"]) for q in inbox["proposals"]] == [
        (g.alliance.address("h3").lower(), made["proposal_id"])
    ]
    (silent_one,) = inbox["unreachable"]
    assert silent_one["gateway_url"] == silent_url
    assert silent_one["names"] == ["Xinqiao Community Clinic"]
    assert "no answer within" in silent_one["detail"]
    home.close()


def test_answers_relayed_to_the_origin_are_checked_there(g: Gateways, p: Patient) -> None:
    """A decline signed by someone else, or an accept whose ReferralConsent is not the
    patient's, is refused by the origin gateway (h1) even when relayed by a member."""
    h1 = g.alliance.address("h1")
    pid = _propose(g, "h1", p, "clinic")["proposal_id"]
    path = f"/gateway/referral-proposals/{pid}/decline"
    expires = int(time.time()) + 300
    text = decline_text(p.address, h1, pid, "", g.alliance.deployment.chain_id, expires)
    for why, signer in {
        "the member's": g.alliance.keys["clinic"],
        "a stranger's": Account.create().key,
    }.items():
        body = json.dumps(
            {
                "patient": p.address,
                "referrer": h1,
                "note": "",
                "expires": expires,
                "signature": sign_text(signer, text),
            }
        ).encode()
        headers = sign_relay(
            bytes.fromhex(g.alliance.keys["clinic"].removeprefix("0x")), h1, "POST", path, body
        )
        refused = httpx.post(
            g.h1.url + path,
            content=body,
            headers={**headers, "Content-Type": "application/json"},
            verify=g.h1.verify,
            timeout=30,
        )
        assert refused.status_code == 403, (why, refused.text)
    # A relay request whose body was changed after signing is not the relay's.
    body = json.dumps(
        {
            "patient": p.address,
            "referrer": h1,
            "note": "",
            "expires": expires,
            "signature": sign_text(p.key.key, text),
        }
    ).encode()
    headers = sign_relay(
        bytes.fromhex(g.alliance.keys["clinic"].removeprefix("0x")), h1, "POST", path, body
    )
    tampered = httpx.post(
        g.h1.url + path,
        content=body.replace(b'"note": ""', b'"note": "x"'),
        headers={**headers, "Content-Type": "application/json"},
        verify=g.h1.verify,
        timeout=30,
    )
    assert tampered.status_code == 401

    proposal = _find(p.wallet.referral_inbox(p.key.key), h1, pid)
    stranger = Account.create()
    forged = g.client(g.cloud, stranger.key)
    with pytest.raises(ApiError) as not_theirs:  # another patient cannot answer it
        forged.accept_inbox_proposal(stranger.key, proposal)
    assert not_theirs.value.status == 403
    with pytest.raises(ApiError) as wrong_terms:  # the patient's key, other terms
        p.wallet.accept_inbox_proposal(p.key.key, {**proposal, "reason": "something else"})
    assert wrong_terms.value.status == 400
    assert at_a_status(g, pid) == "pending"
    forged.close()

"""A referral's free text across gateways: the reason is kept by the referrer's gateway (h1,
A), the receiver's notes by the receiver's (the clinic, on the cloud gateway B); the chain
holds only salted commitments. Each party reads all of them at its own gateway, which
fetches the rest from the other over pinned TLS; every text is checked against the chain,
and one altered in a gateway's database is reported as not matching, never as valid."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import pytest
from eth_account import Account

from sharing_api.chain import Alliance, ChainClient
from sharing_api.sdk import ApiError, SharingClient
from tests.gateway.conftest import Gateways

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor"
REASON = "suspected acute coronary syndrome"
NOTE = "PCI done, back to community care"


def _referral(g: Gateways) -> tuple[int, SharingClient, Any]:
    """A referral h1 -> clinic that the patient signed (through B) and the clinic completed
    at B: the reason is A's, the complete note B's."""
    key = Account.create()
    h1 = g.member("h1")
    sealed = SharingClient.seal(b"{}", POLICY, [h1.authority_params("h1")])
    record_id = int(h1.upload(key.address, "summary", POLICY, sealed)["record_id"])
    proposal = h1.propose_referral(
        key.address, g.alliance.address("clinic"), record_ids=[record_id], reason=REASON
    )
    # The proposal carries the reason and its salt; the patient's SDK commits to both.
    assert proposal["reason"] == REASON and len(bytes.fromhex(proposal["reason_salt"][2:])) == 32
    wallet = g.client(g.cloud, key.key)
    inbox = wallet.referral_inbox(key.key)
    shown = next(p for p in inbox["proposals"] if p["proposal_id"] == proposal["proposal_id"])
    referral_id = int(wallet.accept_inbox_proposal(key.key, shown)["referral_id"])
    clinic = g.member("clinic")
    clinic.accept_referral(referral_id)
    clinic.complete_referral(referral_id, NOTE)
    return referral_id, wallet, key


def _by_kind(client: SharingClient, referral_id: int) -> dict[str, Any]:
    return {t.kind: t for t in client.referral_texts(referral_id)}


def test_each_party_reads_both_gateways_texts_checked_against_the_chain(gateways: Gateways) -> None:
    g = gateways
    referral_id, wallet, key = _referral(g)
    chain = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["regulator"]), g.alliance.deployment
    )
    created = chain.referrals.events("ReferralCreated")
    on_chain = next(e for e in created if int(e.args["referralId"]) == referral_id)
    reason_hash = bytes(on_chain.args["reasonHash"])
    assert reason_hash != hashlib.sha256(REASON.encode()).digest()  # not the old hash

    for member in ("h1", "clinic"):  # A holds the reason, B the note: each fetches the other
        texts = _by_kind(g.member(member), referral_id)
        assert set(texts) == {"reason", "complete"}, member
        assert texts["reason"].text == REASON and texts["reason"].matches_chain
        assert texts["reason"].commitment == "0x" + reason_hash.hex()
        assert texts["reason"].held_by == g.alliance.address("h1").lower()
        assert texts["complete"].text == NOTE and texts["complete"].matches_chain
        assert texts["complete"].held_by == g.alliance.address("clinic").lower()

    # The receiver's gateway now shows the reason in its listing (fetched and checked).
    assert g.member("clinic").referral(referral_id)["reason"] == REASON
    assert g.member("h1").referral(referral_id)["reason"] == REASON

    # The patient's own gateway (B) cannot sign in at A for the patient: it says where the
    # reason is; signed in at A, the patient reads it there.
    got = wallet.json("GET", f"/referrals/{referral_id}/texts")
    kinds = {t["kind"] for t in got["texts"]}
    assert "complete" in kinds
    with g.client(g.h1, key.key) as at_a:
        texts = _by_kind(at_a, referral_id)
        assert texts["reason"].text == REASON and texts["reason"].matches_chain
    # An outsider (h3, hosted at B) may not read them.
    with g.member("h3") as h3, pytest.raises(ApiError) as refused:
        h3.json("GET", f"/referrals/{referral_id}/texts")
    assert refused.value.status == 403


def _alter(index: sqlite3.Connection, referral_id: int, kind: str, text: str) -> None:
    index.execute(
        "UPDATE referral_texts SET text = ? WHERE referral_id = ? AND kind = ?",
        (text, referral_id, kind),
    )
    index.commit()


def test_an_altered_stored_text_is_reported_not_matching(gateways: Gateways) -> None:
    g = gateways
    referral_id, _wallet, _key = _referral(g)
    (db,) = list(g.cloud.directory.rglob("index.sqlite3"))
    with sqlite3.connect(db) as index:
        _alter(index, referral_id, "complete", "no PCI; patient died")
    # The gateway that holds it, its SDK, and the other party's gateway all say so.
    at_b = g.member("clinic").json("GET", f"/referrals/{referral_id}/texts")
    (note,) = [t for t in at_b["texts"] if t["kind"] == "complete"]
    assert note["text"] == "no PCI; patient died" and not note["matches_chain"]
    assert not _by_kind(g.member("clinic"), referral_id)["complete"].matches_chain
    at_a = _by_kind(g.member("h1"), referral_id)
    assert not at_a["complete"].matches_chain and at_a["reason"].matches_chain
    # A wrong text fetched from B is never kept at A as if it were the referral's.
    (db_a,) = list(g.h1.directory.rglob("index.sqlite3"))
    with sqlite3.connect(db_a) as index_a:
        kept = index_a.execute(
            "SELECT kind FROM referral_texts WHERE referral_id = ?", (referral_id,)
        ).fetchall()
    assert kept == [("reason",)]

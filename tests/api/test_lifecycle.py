"""End to end over HTTP against the real node and store: a record superseded by a new version,
a referral rejected, a referral cancelled: state transitions, who may do each (403 for the
others, nothing written), and the events in the index and the regulator's audit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast, ChainCounts, known_patient, storage_files

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor or h1.role:doctor"


def _status(call: Any) -> int:
    try:
        call()
    except ApiError as exc:
        assert exc.problem["status"] == exc.status and exc.problem["detail"]
        return exc.status
    return 200


def _post_status(client: SharingClient, path: str) -> int:
    return _status(lambda: client.json("POST", path, json={}))


class Nothing:
    """Snapshot of chain counts and stored blobs: ``same()`` if nothing was written since."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.root = Path(cast.api.services.settings.resolved_storage().local_root)
        self.before = (storage_files(self.root), ChainCounts(cast).values)

    def same(self) -> bool:
        return (storage_files(self.root), ChainCounts(self.cast).values) == self.before


@pytest.fixture
def patient(cast: Cast) -> Iterator[tuple[LocalAccount, SharingClient]]:
    account = known_patient(cast)
    client = SharingClient(cast.api.url)
    client.login(account.key)
    yield account, client
    client.close()


def _seal(cast: Cast, text: bytes) -> bytes:
    params = [cast.clinic.authority_params("c1"), cast.h1.authority_params("h1")]
    return cast.clinic.seal(text, POLICY, params)


def test_record_supersede(cast: Cast, patient: tuple[LocalAccount, SharingClient]) -> None:
    account, wallet = patient
    v1_plain, v2_plain = b'{"resourceType":"Observation","v":1}', b'{"v":2,"corrected":true}'
    v1_sealed, v2_sealed = _seal(cast, v1_plain), _seal(cast, v2_plain)
    v1 = cast.clinic_doctor.upload(account.address, "lab", POLICY, v1_sealed)
    wallet.grant_consent(
        account.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )

    # Only the custodian's people may supersede: others get 403 and nothing is written.
    path = f"/records/{v1['record_id']}/supersede"
    nothing = Nothing(cast)
    for who in (cast.h3, cast.h3_doctor, cast.h1_doctor, cast.h1):
        assert (
            who.http.post(
                path, params={"policy": POLICY}, content=v2_sealed, headers=who._headers()
            ).status_code
            == 403
        )
    assert (
        wallet.http.post(
            path, params={"policy": POLICY}, content=v2_sealed, headers=wallet._headers()
        ).status_code
        == 403
    )
    assert (
        cast.regulator.http.post(
            path, params={"policy": POLICY}, content=v2_sealed, headers=cast.regulator._headers()
        ).status_code
        == 403
    )
    assert nothing.same()

    response = cast.clinic_doctor.request(
        "POST",
        path,
        params={"policy": POLICY, "sha256": hashlib.sha256(v2_sealed).hexdigest()},
        content=v2_sealed,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201
    v2 = response.json()
    assert v2["supersedes"] == v1["record_id"] and v2["superseded_by"] == 0
    assert (v2["patient"], v2["category"], v2["custodian"]) == (
        v1["patient"],
        v1["category"],
        v1["custodian"],
    )
    assert v2["cid"] != v1["cid"]
    old = cast.h1.json("GET", f"/records/{v1['record_id']}")
    assert old["superseded_by"] == v2["record_id"]

    # A member with no consent, referral or custody sees neither version.
    assert cast.h3.json("GET", "/records", params={"patient": account.address}) == []
    # The list shows the chain of versions, to the patient and to a reader with consent.
    for who in (wallet, cast.h1):
        listed = {
            r["record_id"]: r
            for r in who.json("GET", "/records", params={"patient": account.address})
        }
        assert listed[v1["record_id"]]["superseded_by"] == v2["record_id"]
        assert listed[v2["record_id"]]["supersedes"] == v1["record_id"]

    # The new version is readable (and logged); the old one still is, flagged as superseded.
    data, headers = cast.h1_doctor.fetch(v2["record_id"])
    key = cast.h1_doctor.issue_my_key()
    assert cast.h1_doctor.open(data, key) == v2_plain
    assert "x-superseded-by" not in headers
    old_data, old_headers = cast.h1_doctor.fetch(v1["record_id"])
    assert cast.h1_doctor.open(old_data, key) == v1_plain
    assert old_headers["x-superseded-by"] == str(v2["record_id"])
    audit = cast.regulator.json("GET", "/audit/accesses", params={"patient": account.address})
    assert [a["record_id"] for a in audit] == [v2["record_id"], v1["record_id"]]

    # A version is superseded once: a second attempt is a 409 and leaves nothing behind.
    nothing = Nothing(cast)
    again = cast.clinic.http.post(
        path, params={"policy": POLICY}, content=_seal(cast, b"v3"), headers=cast.clinic._headers()
    )
    assert again.status_code == 409 and again.json()["revert"] == "AlreadySuperseded"
    assert nothing.same()


def _refer(cast: Cast, account: LocalAccount, wallet: SharingClient) -> tuple[int, int]:
    rid = cast.clinic.upload(account.address, "lab", POLICY, _seal(cast, b"referred"))["record_id"]
    consent = wallet.grant_consent(
        account.key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    referral = cast.clinic_doctor.json(
        "POST",
        "/referrals",
        json={
            "patient": account.address,
            "receiver": cast.address("h3"),
            "direction": "up",
            "record_ids": [rid],
            "consent_id": consent["consent_id"],
            "reason": "needs a cardiologist",
        },
    )
    assert referral["status"] == "created"
    return int(referral["referral_id"]), rid


def _history(client: SharingClient, fid: int) -> list[tuple[str, str, str]]:
    rows = client.json("GET", f"/referrals/{fid}/history")
    return [(r["from_status"], r["to_status"], r["by"]) for r in rows]


def _assert_note_kept(client: SharingClient, fid: int, kind: str, note: str) -> None:
    """The chain holds a salted commitment to the note (not its SHA-256); the gateway keeps
    the note, and the reader checks it against the chain (SharingClient.referral_texts)."""
    change = client.json("GET", f"/referrals/{fid}/history")[-1]
    assert change["note_hash"] != "0x" + hashlib.sha256(note.encode()).hexdigest()
    texts = {t.kind: t for t in client.referral_texts(fid)}
    assert texts[kind].text == note and texts[kind].matches_chain
    assert texts[kind].commitment == change["note_hash"]


def test_referral_reject(cast: Cast, patient: tuple[LocalAccount, SharingClient]) -> None:
    account, wallet = patient
    fid, rid = _refer(cast, account, wallet)
    clinic, h3 = cast.address("clinic").lower(), cast.address("h3").lower()

    # Only the receiver rejects: the referrer, an outsider, the patient, the regulator: 403.
    nothing = Nothing(cast)
    for who in (cast.clinic, cast.clinic_doctor, cast.h1, cast.h1_doctor, wallet, cast.regulator):
        assert _post_status(who, f"/referrals/{fid}/reject") == 403
    assert nothing.same()
    assert cast.h3.json("GET", f"/referrals/{fid}")["status"] == "created"

    note = "no cardiology beds this week"
    out = cast.h3_doctor.reject_referral(fid, note)
    assert out["status"] == "rejected"
    # A rejected referral is over: it cannot be accepted, and hands over no records.
    assert _status(lambda: cast.h3.json("POST", f"/referrals/{fid}/accept")) == 409
    assert _status(lambda: cast.h3_doctor.fetch(rid, referral_id=fid)) == 403
    assert _status(lambda: cast.clinic.json("POST", f"/referrals/{fid}/cancel", json={})) == 409

    expected = [("none", "created", clinic), ("created", "rejected", h3)]
    assert _history(cast.regulator, fid) == expected
    assert _history(wallet, fid) == expected
    assert _status(lambda: _history(cast.h1, fid)) == 403  # not a party
    _assert_note_kept(cast.regulator, fid, "reject", note)
    _assert_note_kept(wallet, fid, "reject", note)  # the patient reads it too
    audit = cast.regulator.json("GET", "/audit/referrals", params={"patient": account.address})
    assert [(r["referral_id"], r["status"]) for r in audit] == [(fid, "rejected")]
    assert [r["status"] for r in wallet.json("GET", "/referrals")] == ["rejected"]


def test_referral_cancel(cast: Cast, patient: tuple[LocalAccount, SharingClient]) -> None:
    account, wallet = patient
    fid, rid = _refer(cast, account, wallet)
    clinic, h3 = cast.address("clinic").lower(), cast.address("h3").lower()
    assert cast.h3_doctor.json("POST", f"/referrals/{fid}/accept")["status"] == "accepted"
    data, _ = cast.h3_doctor.fetch(rid, referral_id=fid)  # handed over while accepted
    assert data

    # Only the referrer cancels: the receiver, an outsider, the patient, the regulator: 403.
    nothing = Nothing(cast)
    for who in (cast.h3, cast.h3_doctor, cast.h1, cast.h1_doctor, wallet, cast.regulator):
        assert _post_status(who, f"/referrals/{fid}/cancel") == 403
    assert nothing.same()
    assert cast.clinic.json("GET", f"/referrals/{fid}")["status"] == "accepted"

    note = "patient moved to another city"
    out = cast.clinic_doctor.cancel_referral(fid, note)
    assert out["status"] == "cancelled"
    # Cancelled: the receiver's access ends, and the referral cannot move again.
    assert _status(lambda: cast.h3_doctor.fetch(rid, referral_id=fid)) == 403
    for action in ("complete", "reject"):
        assert _post_status(cast.h3, f"/referrals/{fid}/{action}") == 409
    assert _status(lambda: cast.clinic.json("POST", f"/referrals/{fid}/cancel", json={})) == 409

    assert _history(cast.regulator, fid) == [
        ("none", "created", clinic),
        ("created", "accepted", h3),
        ("accepted", "cancelled", clinic),
    ]
    _assert_note_kept(cast.regulator, fid, "cancel", note)
    _assert_note_kept(cast.h3_doctor, fid, "cancel", note)  # the receiver's staff
    audit = cast.regulator.json("GET", "/audit/referrals", params={"patient": account.address})
    assert [(r["referral_id"], r["status"]) for r in audit] == [(fid, "cancelled")]
    # The access made under the referral stays on the audit trail.
    accesses = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
    assert [(a["basis"], a["basis_id"]) for a in accesses] == [("referral", fid)]
    # Neither party's list hides it.
    for who in (cast.clinic, cast.h3):
        assert fid in [r["referral_id"] for r in who.json("GET", "/referrals")]

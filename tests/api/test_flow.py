"""End to end over HTTP: sign-in, keys, upload, consent, fetch + decrypt, revoke, break-glass,
referral, audit: against the real ledger node and the real local store."""

from __future__ import annotations

import json

import pytest

from sharing_api.fhir import chest_pain_bundle
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration

POLICY = "(h1.role:doctor and h1.dept:cardiology) or c1.role:doctor"


def test_health_and_metrics(cast: Cast) -> None:
    health = cast.anonymous.json("GET", "/health")
    assert health["status"] == "ok"
    assert health["chain_id"] == cast.alliance.deployment.chain_id
    assert len(health["hosted_members"]) == 4  # h1, clinic, h3 and the regulator (console)
    metrics = cast.anonymous.request("GET", "/metrics").text
    assert "alliance_api_requests_total" in metrics


def test_whoami(cast: Cast) -> None:
    assert cast.patient.json("GET", "/auth/me")["kind"] == "patient"
    assert cast.h1.json("GET", "/auth/me")["kind"] == "member"
    assert cast.regulator.json("GET", "/auth/me")["kind"] == "regulator"
    doctor = cast.h1_doctor.json("GET", "/auth/me")
    assert doctor["kind"] == "staff" and doctor["member"] == cast.address("h1")
    assert set(doctor["attributes"]) == {"h1.role:doctor", "h1.dept:cardiology"}


def test_record_consent_revoke_break_glass(cast: Cast) -> None:
    patient = cast.patient_key.address
    bundle = json.dumps(chest_pain_bundle(patient, "c1")).encode()
    params = [cast.clinic.authority_params("c1"), cast.h1.authority_params("h1")]
    sealed = cast.clinic.seal(bundle, POLICY, params)
    assert b"Chest pain" not in sealed

    record = cast.clinic_doctor.upload(patient, "summary", POLICY, sealed)
    assert record["custodian"] == cast.address("clinic").lower()
    assert record["patient"] == patient.lower()
    rid = record["record_id"]
    assert cast.patient.json("GET", f"/records/{rid}")["cid"] == record["cid"]

    # No consent yet: the tertiary hospital's doctor is refused, and nothing is logged.
    with pytest.raises(ApiError) as refused:
        cast.h1_doctor.fetch(rid)
    assert refused.value.status == 403
    assert cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid}) == []

    consent = cast.patient.grant_consent(
        cast.patient_key.key,
        grantee=cast.address("h1"),
        categories=["summary", "lab"],
        purposes=["treatment"],
    )
    assert consent["grantee"] == cast.address("h1").lower() and not consent["revoked"]
    listed = cast.h1.json("GET", "/records", params={"patient": patient})
    assert rid in [r["record_id"] for r in listed]

    ciphertext, headers = cast.h1_doctor.fetch(rid)
    assert ciphertext == sealed
    key = cast.h1_doctor.issue_my_key()
    assert cast.h1_doctor.open(ciphertext, key) == bundle
    accesses = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
    assert [a["access_id"] for a in accesses] == [int(headers["x-access-id"])]
    assert accesses[0]["basis"] == "consent" and accesses[0]["basis_id"] == consent["consent_id"]

    # The nurse may fetch (consent is for the member), but ABE keeps her out.
    nurse_copy, _ = cast.h1_nurse.fetch(rid)
    with pytest.raises(ValueError):
        cast.h1_nurse.open(nurse_copy, cast.h1_nurse.issue_my_key())

    fhir = cast.patient.json("GET", f"/consents/{consent['consent_id']}/fhir")
    assert fhir["resourceType"] == "Consent" and fhir["status"] == "active"

    revoked = cast.patient.revoke_consent(cast.patient_key.key, consent["consent_id"])
    assert revoked["revoked"]
    with pytest.raises(ApiError) as after:
        cast.h1_doctor.fetch(rid)
    assert after.value.status == 403
    assert len(cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})) == 2

    # Break-glass: a doctor reads without consent, with a reason; the regulator sees it.
    with pytest.raises(ApiError) as nurse_bg:
        cast.h1_nurse.fetch(rid, break_glass=True, reason="collapsed in ER")
    assert nurse_bg.value.status == 403
    data, headers = cast.h1_doctor.fetch(rid, break_glass=True, reason="unconscious in ER")
    assert data == sealed
    access_id = int(headers["x-access-id"])
    queue = cast.regulator.json("GET", "/audit/break-glass")
    assert access_id in [a["access_id"] for a in queue]
    chief = cast.h1.staff_client("dr-gao", "chief-physician", ["dept:cardiology"])
    justified = chief.json(
        "POST",
        f"/audit/break-glass/{access_id}/justify",
        json={"justification": "STEMI, patient unconscious"},
    )
    assert justified["justified"]
    assert access_id not in [
        a["access_id"] for a in cast.regulator.json("GET", "/audit/break-glass")
    ]
    bundle_out = cast.regulator.json("GET", "/audit/fhir", params={"patient": patient})
    assert bundle_out["resourceType"] == "Bundle"
    assert len(bundle_out["entry"]) == 3


def test_referral_hands_records_over(cast: Cast) -> None:

    from sharing_api.sdk import SharingClient

    patient = known_patient(cast)
    patient_client = SharingClient(cast.api.url)
    patient_client.login(patient.key)
    sealed = cast.clinic.seal(
        b'{"resourceType": "Patient"}', "c1.role:doctor", [cast.clinic.authority_params("c1")]
    )
    rid = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", sealed)["record_id"]
    consent = patient_client.grant_consent(
        patient.key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    referral = cast.clinic_doctor.create_referral(
        patient.address, cast.address("h3"), [rid], consent["consent_id"], reason="suspected ACS"
    )
    fid = referral["referral_id"]
    assert (referral["status"], referral["direction"]) == ("created", "up")
    with pytest.raises(ApiError) as wrong_party:
        cast.h1.accept_referral(fid)
    assert wrong_party.value.status == 403
    assert cast.h3_doctor.accept_referral(fid)["status"] == "accepted"
    data, _ = cast.h3_doctor.fetch(rid, referral_id=fid, purpose="treatment")
    assert data == sealed
    assert cast.h3.complete_referral(fid, note="discharged")["status"] == "completed"
    mine = patient_client.referrals()
    assert [r["referral_id"] for r in mine] == [fid]
    assert patient_client.referral(fid)["status"] == "completed"
    history = cast.h3.referral_history(fid)
    assert [(h["from_status"], h["to_status"]) for h in history][-2:] == [
        ("created", "accepted"),
        ("accepted", "completed"),
    ]
    audit = cast.regulator.json("GET", "/audit/referrals", params={"patient": patient.address})
    assert audit[0]["status"] == "completed"
    patient_client.close()

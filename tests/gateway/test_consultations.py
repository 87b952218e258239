"""Remote consultation across gateways: the clinic (requester, on the cloud gateway) asks h1
(consultant, its own gateway) to read an imaging record of a patient, on the patient's
consent for purpose consultation. h1's doctor reads the named record through h1's gateway,
fetched from the clinic's, only while the consultation is open and unexpired; the sealed
report comes back as h1's record that only the clinic's doctors can fetch and open; a
member that is no party (h3) can act on nothing and read nothing."""

from __future__ import annotations

import json
import time

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from crypto.errors import CryptoError
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.sdk.consultation_report import consultation_report
from tests.gateway.conftest import Gateways

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor or c1.role:doctor"
QUESTION = "Solitary pulmonary nodule on the chest CT: benign or not?"
CONCLUSION = "8 mm nodule with benign calcification; CT again in 12 months."


def _patient_with_imaging(g: Gateways) -> tuple[LocalAccount, SharingClient, int, int]:
    """A patient the clinic knows, with two imaging records at the clinic."""
    patient = Account.create()
    clinic = g.member("clinic")
    clinic.attest_patient(patient.address)
    doctor = clinic.staff_client("dr-li", "doctor", ["dept:gp"])
    params = [doctor.authority_params(a) for a in ("c1", "h1")]
    ids = [
        int(
            doctor.upload(
                patient.address,
                "imaging",
                POLICY,
                SharingClient.seal(json.dumps({"ct": n}).encode(), POLICY, params),
            )["record_id"]
        )
        for n in (1, 2)
    ]
    return patient, doctor, ids[0], ids[1]


def _consent(g: Gateways, patient: LocalAccount) -> int:
    wallet = g.client(g.cloud, patient.key)
    granted = wallet.grant_consent(
        patient.key,
        grantee=g.alliance.address("h1"),
        categories=["imaging"],
        purposes=["consultation"],
        valid_for_s=3_600,
    )
    return int(granted["consent_id"])


def _refused(status: int, fn: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn()  # type: ignore[operator]
    assert info.value.status == status, info.value
    return info.value


def test_consultation_end_to_end_across_gateways(gateways: Gateways) -> None:
    g = gateways
    h1_addr = g.alliance.address("h1")
    patient, clinic_doctor, imaging, other = _patient_with_imaging(g)
    clinic = g.member("clinic")

    # The patient's consent for purpose consultation is required: nothing is asked without it.
    refused = _refused(
        403, lambda: clinic.request_consultation(patient.address, h1_addr, [imaging], QUESTION)
    )
    assert "consent" in str(refused)
    assert clinic.consultations(patient.address) == []
    _consent(g, patient)

    asked = clinic_doctor.request_consultation(patient.address, h1_addr, [imaging], QUESTION)
    cid = int(asked["consultation_id"])
    assert asked["status"] == "requested" and asked["question"] == QUESTION
    assert asked["requester"] == g.alliance.address("clinic").lower()

    h1 = g.member("h1")
    radiologist = h1.staff_client("dr-wang", "doctor", ["dept:radiology"])
    h3 = g.member("h3")
    # Only the consultant answers, only the requester closes or cancels; h3 is no party.
    _refused(403, lambda: clinic.accept_consultation(cid))
    _refused(403, lambda: h1.cancel_consultation(cid))
    _refused(403, lambda: h3.accept_consultation(cid))
    _refused(403, lambda: h3.consultation(cid))
    assert all(c["consultation_id"] != cid for c in h3.consultations())
    # Requested grants no read yet.
    _refused(403, lambda: radiologist.fetch(imaging, consultation_id=cid, purpose="consultation"))

    # The consultant reads the question kept by the clinic's gateway, checked against the chain.
    texts = {t["kind"]: t for t in radiologist.consultation_texts(cid)["texts"]}
    assert texts["question"]["text"] == QUESTION and texts["question"]["matches_chain"]

    assert radiologist.accept_consultation(cid)["status"] == "accepted"
    data, headers = radiologist.fetch(imaging, consultation_id=cid, purpose="consultation")
    assert json.loads(SharingClient.open(data, radiologist.issue_my_key())) == {"ct": 1}
    regulator = g.client(g.h1, g.alliance.keys["regulator"])
    logged = regulator.json("GET", "/audit/accesses")
    entry = next(a for a in logged if a["access_id"] == int(headers["x-access-id"]))
    assert (entry["basis"], entry["basis_id"], entry["purpose"]) == (
        "consultation",
        cid,
        "consultation",
    )
    # A record not named, and a member that is no party, are refused.
    _refused(403, lambda: radiologist.fetch(other, consultation_id=cid, purpose="consultation"))
    h3_staff = h3.staff_client("dr-zhou", "doctor", [])
    _refused(403, lambda: h3_staff.fetch(imaging, consultation_id=cid, purpose="consultation"))

    # The sealed report: h1's record, readable by the clinic's doctors only.
    report = consultation_report(cid, patient.address, CONCLUSION)
    reported = radiologist.report_consultation(
        cid, report, "c1.role:doctor", category="imaging", note="see report"
    )
    assert reported["status"] == "reported"
    report_id = int(reported["report_record_id"])
    assert h1.json("GET", f"/records/{report_id}")["custodian"] == h1_addr.lower()
    _refused(403, lambda: h3_staff.fetch(report_id, consultation_id=cid, purpose="consultation"))
    # The requester finds the report in its record list (no consent covers it); h3 does not.
    assert report_id in {int(r["record_id"]) for r in clinic_doctor.json("GET", "/records")}
    assert report_id not in {int(r["record_id"]) for r in h3_staff.json("GET", "/records")}
    got, _ = clinic_doctor.fetch(report_id, consultation_id=cid, purpose="consultation")
    opened = json.loads(SharingClient.open(got, clinic_doctor.issue_my_key()))
    assert opened["resourceType"] == "DiagnosticReport" and opened["conclusion"] == CONCLUSION
    # Even h1, which keeps the ciphertext, cannot open it: the policy names the clinic only.
    own, _ = radiologist.fetch(report_id)
    with pytest.raises(CryptoError):
        SharingClient.open(own, radiologist.issue_my_key())

    closed = clinic.close_consultation(cid, "thank you")
    assert closed["status"] == "closed"
    assert [s["step"] for s in closed["steps"]] == ["requested", "accepted", "reported", "closed"]
    # Closed: the consultant reads no more; the requester keeps its report.
    _refused(403, lambda: radiologist.fetch(imaging, consultation_id=cid, purpose="consultation"))
    clinic_doctor.fetch(report_id, consultation_id=cid, purpose="consultation")

    # The patient sees the consultation about their record, with its status.
    wallet = g.client(g.cloud, patient.key)
    mine = wallet.consultations()
    assert [(c["consultation_id"], c["status"]) for c in mine] == [(cid, "closed")]


def test_the_consultant_is_refused_after_expiry_and_after_cancel(gateways: Gateways) -> None:
    g = gateways
    h1_addr = g.alliance.address("h1")
    patient, clinic_doctor, imaging, _ = _patient_with_imaging(g)
    _consent(g, patient)
    radiologist = g.member("h1").staff_client("dr-wang", "doctor", ["dept:radiology"])

    cancelled = clinic_doctor.request_consultation(patient.address, h1_addr, [imaging], QUESTION)
    cid = int(cancelled["consultation_id"])
    radiologist.accept_consultation(cid)
    radiologist.fetch(imaging, consultation_id=cid, purpose="consultation")
    assert clinic_doctor.cancel_consultation(cid, "seen in person")["status"] == "cancelled"
    _refused(403, lambda: radiologist.fetch(imaging, consultation_id=cid, purpose="consultation"))
    _refused(
        409,
        lambda: radiologist.report_consultation(
            cid, consultation_report(cid, patient.address, CONCLUSION), "c1.role:doctor"
        ),
    )

    short = clinic_doctor.request_consultation(
        patient.address, h1_addr, [imaging], QUESTION, expires_at=int(time.time()) + 8
    )
    sid = int(short["consultation_id"])
    radiologist.accept_consultation(sid)
    radiologist.fetch(imaging, consultation_id=sid, purpose="consultation")
    time.sleep(max(0.0, short["expires_at"] - time.time()) + 2.5)
    assert radiologist.consultation(sid)["expired"]
    _refused(403, lambda: radiologist.fetch(imaging, consultation_id=sid, purpose="consultation"))

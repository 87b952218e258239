"""The demo's remote consultation (远程会诊): a township clinic (fx) asks the tertiary
hospital's radiologist (h1) to read a chest CT report of a patient, on the patient's consent
for purpose consultation. The radiologist reads it on the consultation basis, writes a sealed
FHIR DiagnosticReport back that only the township's doctors can open, and the township
closes the consultation; from then on the radiologist's reads are refused."""

from __future__ import annotations

import json
from collections.abc import Callable

from eth_account import Account

from sharing_api.sdk import ApiError, SharingClient
from sharing_api.sdk.consultation_report import consultation_report

Expect = Callable[[str, bool], None]
QUESTION = "Chest CT: 8 mm nodule in the right upper lobe. Benign, or refer up?"
CONCLUSION = "Calcified granuloma, benign. No referral needed; CT again in 12 months."


def _status(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiError as exc:
        return exc.status
    return 200


def _ct_report(patient: str) -> bytes:
    return json.dumps(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": {"text": "CT chest"},
            "subject": {"identifier": {"value": patient}},
            "conclusion": "8 mm nodule, right upper lobe",
        }
    ).encode()


def imaging_consultation(
    expect: Expect,
    echo: Callable[[str], None],
    township: SharingClient,
    tertiary: SharingClient,
    county: SharingClient,
    wallet_at: Callable[[bytes], SharingClient],
    h1_address: str,
) -> None:
    """``township`` (fx), ``tertiary`` (h1) and ``county`` (pj, no party): member clients;
    ``wallet_at``: a patient's wallet signed in at the township's gateway."""
    patient = Account.create()
    township.attest_patient(patient.address)
    wallet = wallet_at(bytes(patient.key))
    gp = township.staff_client("dr-he", "doctor", ["dept:general-practice"])
    radiologist = tertiary.staff_client("dr-wu", "doctor", ["dept:radiology"])
    policy = "fx.role:doctor or (h1.role:doctor and h1.dept:radiology)"
    params = [township.authority_params("fx"), township.authority_params("h1")]
    ct = gp.upload(
        patient.address,
        "imaging",
        policy,
        SharingClient.seal(_ct_report(patient.address), policy, params, township.crypto_suite()),
    )
    record_id = int(ct["record_id"])
    echo(f"    fx publishes imaging record {record_id} (a chest CT report), sealed for fx and h1")

    status = _status(
        lambda: gp.request_consultation(patient.address, h1_address, [record_id], QUESTION)
    )
    expect(
        f"no consultation without the patient's consent for consultation ({status})", status == 403
    )
    wallet.grant_consent(
        bytes(patient.key),
        grantee=h1_address,
        categories=["imaging"],
        purposes=["consultation"],
        valid_for_s=7 * 86_400,
    )
    asked = gp.request_consultation(patient.address, h1_address, [record_id], QUESTION)
    cid = int(asked["consultation_id"])
    echo(
        f"    consultation {cid} fx -> h1: the question stays at fx, "
        f"on chain only {asked['question_hash'][:18]}..."
    )
    texts = {t["kind"]: t for t in radiologist.consultation_texts(cid)["texts"]}
    question = texts.get("question", {})
    expect(
        "h1's radiologist reads the question from fx's gateway, checked against the chain",
        question.get("text") == QUESTION and bool(question.get("matches_chain")),
    )

    radiologist.accept_consultation(cid)
    data, headers = radiologist.fetch(record_id, consultation_id=cid, purpose="consultation")
    opened = json.loads(SharingClient.open(data, radiologist.issue_my_key()))
    expect(
        f"the radiologist reads the CT on the consultation basis (access {headers['x-access-id']})",
        opened["code"]["text"] == "CT chest",
    )

    reported = radiologist.report_consultation(
        cid,
        consultation_report(cid, patient.address, CONCLUSION),
        "fx.role:doctor",
        category="imaging",
    )
    report_id = int(reported["report_record_id"])
    got, _ = gp.fetch(report_id, consultation_id=cid, purpose="consultation")
    answer = json.loads(SharingClient.open(got, gp.issue_my_key()))
    expect(
        f"the consultation report (FHIR DiagnosticReport, h1's record {report_id}) opens at fx",
        answer["resourceType"] == "DiagnosticReport" and answer["conclusion"] == CONCLUSION,
    )
    status = _status(lambda: county.fetch(report_id, consultation_id=cid, purpose="consultation"))
    expect(f"pj, no party to the consultation, is refused the report ({status})", status == 403)

    gp.close_consultation(cid, "thank you")
    status = _status(
        lambda: radiologist.fetch(record_id, consultation_id=cid, purpose="consultation")
    )
    expect(f"consultation closed: the radiologist's next read is refused ({status})", status == 403)
    mine = wallet.consultations()
    expect(
        "the patient sees the consultation (closed) in the wallet",
        [(c["consultation_id"], c["status"]) for c in mine] == [(cid, "closed")],
    )
    for client in (gp, radiologist, wallet):
        client.close()

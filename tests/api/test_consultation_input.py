"""Bad consultation requests get one clear error and write nothing: no chain transaction
(the chain counts of the `unchanged` fixture, and the consultation list), no stored text."""

from __future__ import annotations

import time

import pytest

from sharing_api.sdk import ApiError
from sharing_api.sdk.consultation_report import consultation_report
from tests.api.conftest import Cast, ChainCounts, known_patient

pytestmark = pytest.mark.integration


def _imaging(cast: Cast, patient: str) -> int:
    policy = "c1.role:doctor or h1.role:doctor"
    sealed = cast.sealed(b'{"ct": 1}', policy)
    return int(cast.clinic_doctor.upload(patient, "imaging", policy, sealed)["record_id"])


def _status(fn: object) -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        fn()  # type: ignore[operator]
    return info.value.status, str(info.value)


def test_bad_requests_are_refused_and_change_nothing(cast: Cast) -> None:
    patient = known_patient(cast)
    record = _imaging(cast, patient.address)
    stranger = known_patient(cast)
    cast.clinic.grant_consent(  # the clinic relays the patient's signed grant
        patient.key,
        grantee=cast.address("h1"),
        categories=["imaging"],
        purposes=["consultation"],
        valid_for_s=3_600,
    )
    h1 = cast.address("h1")
    texts = cast.api.services.consultation_texts
    before = {c["consultation_id"] for c in cast.regulator.consultations()}
    chain_before = ChainCounts(cast).values
    ask = cast.clinic_doctor.request_consultation
    cases = [
        # a past expiry
        (400, lambda: ask(patient.address, h1, [record], "q", expires_at=int(time.time()) - 5)),
        # longer than the consent
        (409, lambda: ask(patient.address, h1, [record], "q", expires_at=int(time.time()) + 7_200)),
        # no consent of that patient to the consultant
        (403, lambda: ask(stranger.address, h1, [record], "q")),
        # a consultant that has no consent (h3)
        (403, lambda: ask(patient.address, cast.address("h3"), [record], "q")),
        # an unknown record
        (404, lambda: ask(patient.address, h1, [999_999], "q")),
        # the regulator is no consultant, nor can it ask
        (403, lambda: cast.regulator.request_consultation(patient.address, h1, [record], "q")),
        # no question
        (422, lambda: ask(patient.address, h1, [record], "")),
    ]
    for expected, call in cases:
        status, detail = _status(call)
        assert status == expected, detail
    assert {c["consultation_id"] for c in cast.regulator.consultations()} == before
    assert ChainCounts(cast).values == chain_before
    assert all(texts.texts(cid) == {} for cid in range(1, 50) if cid not in before)


def test_a_report_that_is_no_consultation_report_is_refused_before_sealing(cast: Cast) -> None:
    patient = known_patient(cast)
    from sharing_api.fhir import FhirError

    wrong = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    with pytest.raises(FhirError, match="DiagnosticReport or ClinicalImpression"):
        cast.h1_doctor.report_consultation(1, wrong, "c1.role:doctor")
    other = consultation_report(2, patient.address, "benign")
    with pytest.raises(FhirError, match="does not name consultation 1"):
        cast.h1_doctor.report_consultation(1, other, "c1.role:doctor")

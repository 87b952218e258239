"""ConsultationRegistry: a request rests on the patient's consent for purpose consultation;
each step by its own party with its own event; the consultant reads the named records only
while accepted or reported and unexpired, the requester only the report once reported."""

from __future__ import annotations

import time

import pytest

from sharing_api.chain import Basis, Category, Purpose
from sharing_api.chain.consultations import Requested
from sharing_api.chain.scopes import ConsultationStatus
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts, sha

pytestmark = pytest.mark.integration
LASTS = 1_800
MAX_DURATION = 30 * 86_400


def _request(actors: Actors, lasts: int = LASTS) -> tuple[Requested, int, int]:
    """The clinic asks h1 to read an imaging record of the patient, on the patient's consent
    (purpose consultation, granted to h1)."""
    h1 = actors.h1.client.address
    g = grant(
        actors.clinic,
        actors.patient,
        h1,
        categories=(Category.IMAGING,),
        purposes=(Purpose.CONSULTATION,),
    )
    imaging = register(actors.clinic, actors.patient, Category.IMAGING)
    asked = actors.clinic.consultations.request(
        actors.patient.address,
        h1,
        [imaging],
        g.consent_id,
        sha("nodule on the chest CT?"),
        actors.now() + lasts,
    )
    return asked, imaging, g.consent_id


def _read(actors: Actors, reader_name: str, record: int, cid: int) -> object:
    reader = getattr(actors, reader_name)
    return reader.access.log_access(
        record, reader.client.address, Purpose.CONSULTATION, Basis.CONSULTATION, cid
    )


def test_lifecycle_each_step_its_event_and_reads_while_open(actors: Actors) -> None:
    h1, clinic, patient = (
        actors.h1.client.address,
        actors.clinic.client.address,
        actors.patient.address,
    )
    asked, imaging, consent_id = _request(actors)
    cid = asked.consultation_id
    info = actors.h1.consultations.get(cid)
    assert (info.status, info.requester, info.consultant, info.consent_id) == (
        ConsultationStatus.REQUESTED,
        clinic,
        h1,
        consent_id,
    )
    ev = actors.regulator.consultations.events("ConsultationRequested", consultationId=cid)[-1]
    assert ev.args["recordIds"] == [imaging] and ev.args["questionHash"] == sha(
        "nodule on the chest CT?"
    )
    # Requested grants nothing yet.
    reverts("BasisDoesNotCover", lambda: _read(actors, "h1", imaging, cid))

    actors.h1.consultations.accept(cid)
    assert actors.h1.consultations.covers_access(cid, patient, h1, imaging)
    assert _read(actors, "h1", imaging, cid).access_id > 0  # type: ignore[attr-defined]
    # Not named, or another member, or a research purpose: refused.
    other = register(actors.clinic, actors.patient, Category.IMAGING, "other")
    reverts("BasisDoesNotCover", lambda: _read(actors, "h1", other, cid))
    reverts("BasisDoesNotCover", lambda: _read(actors, "h3", imaging, cid))
    reverts(
        "InvalidPurpose",
        lambda: actors.h1.access.log_access(imaging, h1, Purpose.RESEARCH, Basis.CONSULTATION, cid),
    )

    report = register(actors.h1, actors.patient, Category.IMAGING, "report")
    reverts("BasisDoesNotCover", lambda: _read(actors, "clinic", report, cid))  # not yet
    actors.h1.consultations.report(cid, report, sha("benign"))
    reported = actors.regulator.consultations.events("ConsultationReported", consultationId=cid)
    assert reported[-1].args["reportRecordId"] == report
    assert actors.h1.consultations.get(cid).report_record_id == report
    assert _read(actors, "clinic", report, cid).access_id > 0  # type: ignore[attr-defined]
    reverts("BasisDoesNotCover", lambda: _read(actors, "h3", report, cid))
    reverts("BasisDoesNotCover", lambda: _read(actors, "clinic", imaging, cid))
    assert _read(actors, "h1", imaging, cid).access_id > 0  # type: ignore[attr-defined]

    reverts("NotRequester", lambda: actors.h1.consultations.close(cid))
    actors.clinic.consultations.close(cid, sha("thanks"))
    assert actors.h1.consultations.get(cid).status == ConsultationStatus.CLOSED
    reverts("BasisDoesNotCover", lambda: _read(actors, "h1", imaging, cid))  # ended
    assert _read(actors, "clinic", report, cid).access_id > 0  # type: ignore[attr-defined]
    for name in ("Accepted", "Closed"):
        assert actors.regulator.consultations.events(f"Consultation{name}", consultationId=cid)


def test_each_step_only_by_its_party_and_from_its_state(actors: Actors) -> None:
    asked, imaging, _ = _request(actors)
    cid = asked.consultation_id
    c = actors.clinic.consultations
    reverts("NotConsultant", lambda: c.accept(cid))
    reverts("NotConsultant", lambda: actors.h3.consultations.decline(cid))
    reverts("NotRequester", lambda: actors.h1.consultations.cancel(cid))
    reverts("InvalidTransition", lambda: c.close(cid))
    reverts("InvalidTransition", lambda: actors.h1.consultations.report(cid, imaging))
    reverts("UnknownConsultation", lambda: actors.h1.consultations.accept(cid + 100))
    actors.h1.consultations.accept(cid)
    # The report is the consultant's own record about this patient pseudonym.
    reverts("InvalidReport", lambda: actors.h1.consultations.report(cid, imaging))
    c.cancel(cid, sha("patient transferred"))
    assert c.get(cid).status == ConsultationStatus.CANCELLED
    assert not c.covers_access(cid, actors.patient.address, actors.h1.client.address, imaging)
    reverts("InvalidTransition", lambda: actors.h1.consultations.decline(cid))

    declined, _, _ = _request(actors)
    actors.h1.consultations.decline(declined.consultation_id, sha("not my field"))
    assert c.get(declined.consultation_id).status == ConsultationStatus.DECLINED
    events = actors.regulator.consultations.events(
        "ConsultationDeclined", consultationId=declined.consultation_id
    )
    assert events[-1].args["noteHash"] == sha("not my field")
    reverts("InvalidTransition", lambda: c.cancel(declined.consultation_id))


def test_request_needs_the_patients_consultation_consent(actors: Actors) -> None:
    h1, patient = actors.h1.client.address, actors.patient.address
    imaging = register(actors.clinic, actors.patient, Category.IMAGING)
    # A consent for treatment (not consultation) covers no consultation.
    treat = grant(
        actors.clinic,
        actors.patient,
        h1,
        categories=(Category.IMAGING,),
        purposes=(Purpose.TREATMENT,),
    )
    c = actors.clinic.consultations
    until = actors.now() + LASTS
    q = sha("q")
    reverts(
        "ConsentDoesNotCover", lambda: c.request(patient, h1, [imaging], treat.consent_id, q, until)
    )
    lab_only = grant(
        actors.clinic,
        actors.patient,
        h1,
        categories=(Category.LAB,),
        purposes=(Purpose.CONSULTATION,),
    )
    reverts(
        "ConsentDoesNotCover",
        lambda: c.request(patient, h1, [imaging], lab_only.consent_id, q, until),
    )
    good = grant(
        actors.clinic,
        actors.patient,
        h1,
        categories=(Category.IMAGING,),
        purposes=(Purpose.CONSULTATION,),
    )
    reverts(
        "ExpiryBeyondConsent",
        lambda: c.request(patient, h1, [imaging], good.consent_id, q, actors.now() + 7_200),
    )
    reverts(
        "InvalidExpiry",
        lambda: c.request(patient, h1, [imaging], good.consent_id, q, actors.now() - 1),
    )
    reverts(
        "MissingQuestion",
        lambda: c.request(patient, h1, [imaging], good.consent_id, b"\0" * 32, until),
    )
    reverts("NoRecords", lambda: c.request(patient, h1, [], good.consent_id, q, until))
    reverts(
        "InvalidConsultant",
        lambda: c.request(
            patient, actors.regulator.client.address, [imaging], good.consent_id, q, until
        ),
    )
    stranger = register(actors.clinic, actors.paying_patient, Category.IMAGING)
    reverts(
        "RecordNotOfPatient",
        lambda: c.request(patient, h1, [stranger], good.consent_id, q, until),
    )
    reverts(
        "NotCareProvider",
        lambda: actors.regulator.consultations.request(
            patient, h1, [imaging], good.consent_id, q, until
        ),
    )

    # Revoking the consent ends the consultant's reads at once.
    cid = c.request(patient, h1, [imaging], good.consent_id, q, until).consultation_id
    actors.h1.consultations.accept(cid)
    assert c.covers_access(cid, patient, h1, imaging)
    deadline = actors.now() + 600
    consents = actors.clinic.consents
    nonce, sig = consents.sign_revoke(good.consent_id, actors.patient.key, deadline=deadline)
    consents.revoke_by_sig(good.consent_id, nonce, deadline, sig)
    assert not c.covers_access(cid, patient, h1, imaging)


def test_expiry_ends_the_consultants_reads(actors: Actors) -> None:
    asked, imaging, _ = _request(actors, lasts=4)
    cid = asked.consultation_id
    actors.h1.consultations.accept(cid)
    assert _read(actors, "h1", imaging, cid).access_id > 0  # type: ignore[attr-defined]
    expires_at = actors.h1.consultations.get(cid).expires_at
    deadline = time.time() + 30
    while actors.now() < expires_at and time.time() < deadline:
        time.sleep(0.5)
        if actors.now() < expires_at:
            actors.h3.consultations.covers_access(
                cid, actors.patient.address, actors.h1.client.address, imaging
            )
            register(actors.h3, actors.patient, Category.SUMMARY, str(time.time()))  # a block
    reverts("BasisDoesNotCover", lambda: _read(actors, "h1", imaging, cid))
    report = register(actors.h1, actors.patient, Category.IMAGING, "late")
    reverts("ConsultationExpired", lambda: actors.h1.consultations.report(cid, report))

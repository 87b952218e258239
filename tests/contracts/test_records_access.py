"""RecordRegistry and AccessLog: registration, versions, logged access and break-glass."""

from __future__ import annotations

from typing import Any

import pytest

from sharing_api.chain import Basis, Category, Purpose
from tests.contracts.conftest import Actors
from tests.contracts.helpers import CID, POLICY, grant, register, reverts, sha

pytestmark = pytest.mark.integration


def test_register_and_supersede_keep_nothing_personal(actors: Actors) -> None:
    patient = actors.patient.address
    first = actors.h1.records.register(patient, Category.DISCHARGE, CID, sha("v1"), POLICY)
    info = actors.clinic.records.get(first.record_id)
    assert (info.patient, info.category, info.custodian) == (
        patient,
        Category.DISCHARGE,
        actors.h1.client.address,
    )
    assert info.content_hash == sha("v1") and info.superseded_by == 0
    assert actors.clinic.records.locator(first.record_id) == (CID, POLICY)

    reverts(
        "NotCustodian",
        lambda: actors.clinic.records.supersede(first.record_id, CID, sha("x"), POLICY),
    )
    second = actors.h1.records.supersede(first.record_id, "QmNewVersion", sha("v2"), POLICY)
    assert actors.h1.records.get(first.record_id).superseded_by == second.record_id
    new = actors.h1.records.get(second.record_id)
    assert (new.supersedes, new.patient, new.category) == (
        first.record_id,
        patient,
        Category.DISCHARGE,
    )
    reverts(
        "AlreadySuperseded",
        lambda: actors.h1.records.supersede(first.record_id, CID, sha("v3"), POLICY),
    )
    reverts("UnknownRecord", lambda: actors.h1.records.supersede(999, CID, sha("v3"), POLICY))
    event = actors.regulator.records.events("RecordSuperseded")[-1]
    assert (event.args["oldRecordId"], event.args["newRecordId"]) == (
        first.record_id,
        second.record_id,
    )


def test_register_refuses_outsiders_and_bad_input(actors: Actors) -> None:
    patient = actors.patient.address
    reverts(
        "NotMember",
        lambda: actors.outsider.records.register(patient, Category.LAB, CID, sha("x"), POLICY),
    )
    bad_category: Any = 6
    reverts(
        "InvalidCategory",
        lambda: actors.h1.records.register(patient, bad_category, CID, sha("x"), POLICY),
    )
    reverts(
        "InvalidRecord",
        lambda: actors.h1.records.register(patient, Category.LAB, "", sha("x"), POLICY),
    )
    reverts(
        "InvalidRecord",
        lambda: actors.h1.records.register(patient, Category.LAB, CID, b"\0" * 32, POLICY),
    )
    reverts(
        "ZeroAddress",
        lambda: actors.h1.records.register("0x" + "00" * 20, Category.LAB, CID, sha("x"), POLICY),
    )
    with pytest.raises(ValueError, match="32-byte"):
        actors.h1.records.register(patient, Category.LAB, CID, b"short", POLICY)
    reverts("UnknownRecord", lambda: actors.h1.records.get(12345))


def test_access_on_consent_is_logged_for_auditors(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    record = register(actors.h1, actors.patient, Category.LAB)
    # The custodian serving the record logs it for the reader; so may the reader itself.
    by_custodian = actors.h1.access.log_access(
        record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
    )
    by_reader = actors.clinic.access.log_access(
        record, clinic, Purpose.REFERRAL, Basis.CONSENT, g.consent_id
    )
    assert by_reader.access_id == by_custodian.access_id + 1
    logged = actors.regulator.access.events("AccessLogged", patient=actors.patient.address)
    assert [e.args["accessId"] for e in logged] == [by_custodian.access_id, by_reader.access_id]
    first = logged[0].args
    assert first["recordId"] == record and first["reader"] == clinic
    assert first["logger"] == actors.h1.client.address
    assert (first["purpose"], first["basis"], first["basisId"]) == (
        Purpose.TREATMENT,
        Basis.CONSENT,
        g.consent_id,
    )


def test_access_outside_the_consent_is_refused(actors: Actors) -> None:
    clinic, h3 = actors.clinic.client.address, actors.h3.client.address
    g = grant(
        actors.h1, actors.patient, clinic, categories=(Category.LAB,), purposes=(Purpose.TREATMENT,)
    )
    lab = register(actors.h1, actors.patient, Category.LAB)
    imaging = register(actors.h1, actors.patient, Category.IMAGING)
    log = actors.clinic.access.log_access
    reverts(
        "BasisDoesNotCover",
        lambda: log(imaging, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id),
    )
    reverts(
        "BasisDoesNotCover", lambda: log(lab, clinic, Purpose.RESEARCH, Basis.CONSENT, g.consent_id)
    )
    reverts("BasisDoesNotCover", lambda: log(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, 999))
    reverts(
        "BasisDoesNotCover",
        lambda: actors.h3.access.log_access(
            lab, h3, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    # another patient's record with this patient's consent
    other = register(actors.h1, actors.paying_patient, Category.LAB)
    reverts(
        "BasisDoesNotCover",
        lambda: log(other, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id),
    )
    # a member that is neither the reader nor the custodian cannot log on others' behalf
    reverts(
        "NotReaderOrCustodian",
        lambda: actors.h3.access.log_access(
            lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    reverts(
        "NotMember",
        lambda: actors.outsider.access.log_access(
            lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    bad_purpose: Any = 7
    reverts("InvalidPurpose", lambda: log(lab, clinic, bad_purpose, Basis.CONSENT, g.consent_id))
    assert actors.h1.access.events("AccessLogged") == []


def test_break_glass_is_flagged_and_later_justified(actors: Actors) -> None:
    h1 = actors.h1.client.address
    record = register(actors.clinic, actors.patient, Category.CHRONIC_CARE)
    access = actors.h1.access
    reverts("MissingReason", lambda: access.log_break_glass(record, h1, b"\0" * 32))
    reverts(
        "InvalidPurpose",
        lambda: access.log_access(record, h1, Purpose.TREATMENT, Basis.BREAK_GLASS, 0, sha("r")),
    )
    regulator = actors.regulator.client.address
    reverts(
        "NotCareProvider",
        lambda: actors.regulator.access.log_break_glass(record, regulator, sha("r")),
    )

    bg = access.log_break_glass(record, h1, sha("unconscious, no consent on file"))
    event = actors.regulator.access.events("AccessLogged")[-1].args
    assert event["basis"] == Basis.BREAK_GLASS and event["reasonHash"] == sha(
        "unconscious, no consent on file"
    )
    assert event["purpose"] == Purpose.EMERGENCY
    assert actors.regulator.access.unjustified_break_glass() == [bg.access_id]
    assert actors.regulator.access.break_glass_entry(bg.access_id) == (h1, h1, False)

    reverts("NotReader", lambda: actors.clinic.access.justify(bg.access_id, sha("why")))
    reverts("MissingReason", lambda: access.justify(bg.access_id, b"\0" * 32))
    reverts("NotBreakGlass", lambda: access.justify(bg.access_id + 100, sha("why")))
    access.justify(bg.access_id, sha("cardiac arrest; record of allergies needed"))
    reverts("AlreadyJustified", lambda: access.justify(bg.access_id, sha("again")))
    assert actors.regulator.access.unjustified_break_glass() == []
    justified = actors.regulator.access.events("BreakGlassJustified", accessId=bg.access_id)[-1]
    assert justified.args["justificationHash"] == sha("cardiac arrest; record of allergies needed")


def test_removed_member_loses_consent_based_access(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    record = register(actors.h1, actors.patient, Category.LAB)
    p = actors.h1.registry.propose_threshold(1)
    actors.h3.registry.approve(p.proposal_id)
    actors.h1.registry.propose_remove_member(clinic)
    assert not actors.h1.consents.permits(
        g.consent_id, actors.patient.address, clinic, Category.LAB, Purpose.TREATMENT
    )
    reverts(
        "BasisDoesNotCover",
        lambda: actors.h1.access.log_access(
            record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )


def test_audit_trail_orders_every_event(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic)
    record = register(actors.h1, actors.patient, Category.LAB)
    actors.clinic.access.log_access(record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)
    trail = actors.regulator.audit_trail()
    names = [e.name for e in trail]
    assert names[:4] == ["MemberAdded"] * 4
    assert names[-3:] == ["ConsentGranted", "RecordRegistered", "AccessLogged"]
    positions = [(e.block_number, e.log_index) for e in trail]
    assert positions == sorted(positions)

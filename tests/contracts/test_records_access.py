"""RecordRegistry and AccessLog: registration, versions, logged access and break-glass."""

from __future__ import annotations

from typing import Any

import pytest

from sharing_api.chain import Basis, Category, Purpose
from sharing_api.chain.fastcall import FastCalls, LoggedAccess
from sharing_api.chain.records import AccessEntry
from sharing_api.chain.scopes import Review
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
    # The reader logs its own accesses; the custodian serving the record cannot log them.
    first_read = actors.clinic.access.log_access(
        record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
    )
    second_read = actors.clinic.access.log_access(
        record, clinic, Purpose.REFERRAL, Basis.CONSENT, g.consent_id
    )
    assert second_read.access_id == first_read.access_id + 1
    logged = actors.regulator.access.events("AccessLogged", patient=actors.patient.address)
    assert [e.args["accessId"] for e in logged] == [first_read.access_id, second_read.access_id]
    first = logged[0].args
    assert first["recordId"] == record and first["reader"] == clinic
    assert first["logger"] == clinic
    assert (first["purpose"], first["basis"], first["basisId"]) == (
        Purpose.TREATMENT,
        Basis.CONSENT,
        g.consent_id,
    )


def test_a_member_logs_only_in_its_own_name(actors: Actors) -> None:
    """The custodian (h1) of a record cannot log a read in the clinic's name: not on the
    clinic's consent, and above all not a break-glass read the clinic never made. (Before
    this rule the custodian could log for any reader of its records.)"""
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    record = register(actors.h1, actors.patient, Category.LAB)
    err = reverts(
        "NotOwnAccess",
        lambda: actors.h1.access.log_access(
            record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    assert err.args_by_name == {"caller": h1, "reader": clinic}
    reverts(
        "NotOwnAccess",
        lambda: actors.h1.access.log_break_glass(record, clinic, sha("framed")),
    )
    batch = [AccessEntry(record, h1, Purpose.TREATMENT, Basis.CUSTODIAN)] * 2
    batch.insert(1, AccessEntry(record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id))
    reverts("NotOwnAccess", lambda: actors.h1.access.log_access_batch(batch))
    assert actors.regulator.access.events("AccessLogged") == []
    assert actors.regulator.access.unjustified_break_glass() == []


def test_custodian_reads_its_own_record_on_the_custodian_basis(actors: Actors) -> None:
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    record = register(actors.h1, actors.patient, Category.DISCHARGE)
    own = actors.h1.access.log_access(record, h1, Purpose.TREATMENT, Basis.CUSTODIAN, 77)
    event = actors.regulator.access.events("AccessLogged")[-1]
    assert event.args["accessId"] == own.access_id
    assert (event.args["basis"], event.args["basisId"], event.args["logger"]) == (
        Basis.CUSTODIAN,
        0,  # nothing to point at: recorded as 0 whatever was passed
        h1,
    )
    assert event.args["purpose"] == Purpose.TREATMENT
    # Only the custodian: another member, even a care provider, needs a consent or referral.
    err = reverts(
        "ReaderNotCustodian",
        lambda: actors.clinic.access.log_access(record, clinic, Purpose.TREATMENT, Basis.CUSTODIAN),
    )
    assert err.args_by_name == {"recordId": record, "reader": clinic}
    # An emergency read is break-glass (reviewed), even for the custodian.
    reverts(
        "InvalidPurpose",
        lambda: actors.h1.access.log_access(
            record, h1, Purpose.EMERGENCY, Basis.CUSTODIAN, 0, sha("r")
        ),
    )
    # Batched like any other basis; a foreign reader in the batch reverts all of it.
    ok = AccessEntry(record, h1, Purpose.RESEARCH, Basis.CUSTODIAN)
    assert len(actors.h1.access.log_access_batch([ok, ok]).access_ids) == 2
    reverts(
        "ReaderNotCustodian",
        lambda: actors.clinic.access.log_access_batch(
            [AccessEntry(record, clinic, Purpose.TREATMENT, Basis.CUSTODIAN)]
        ),
    )
    assert [e.args["basis"] for e in actors.regulator.access.events("AccessLogged")] == [
        Basis.CUSTODIAN
    ] * 3


def test_access_events_find_one_reader_and_record_in_a_window(actors: Actors) -> None:
    """What a custodian's gateway asks before serving: did this reader log an access to this
    record in the last blocks? (eth_getLogs on recordId and reader, the patient topic open.)"""
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB, Category.SUMMARY))
    lab = register(actors.h1, actors.patient, Category.LAB)
    summary = register(actors.h1, actors.patient, Category.SUMMARY)
    log = actors.clinic.access.log_access
    early = log(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)
    log(summary, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)  # other record
    actors.h1.access.log_access(lab, h1, Purpose.TREATMENT, Basis.CUSTODIAN)  # other reader
    late = log(lab, clinic, Purpose.REFERRAL, Basis.CONSENT, g.consent_id)
    after = log(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)

    events = actors.h1.access.access_events(lab, clinic, early.sent.block_number, "latest")
    assert [e.access_id for e in events] == [early.access_id, late.access_id, after.access_id]
    first = events[0]
    assert (first.record_id, first.patient, first.reader, first.logger) == (
        lab,
        actors.patient.address,
        clinic,
        clinic,
    )
    assert (first.purpose, first.basis, first.basis_id, first.block_number) == (
        Purpose.TREATMENT,
        Basis.CONSENT,
        g.consent_id,
        early.sent.block_number,
    )
    # The window is inclusive at both ends and leaves out what lies outside it.
    window = actors.h1.access.access_events(
        lab, clinic.lower(), early.sent.block_number + 1, late.sent.block_number
    )
    assert [e.access_id for e in window] == [late.access_id]
    assert [e.access_id for e in actors.h1.access.access_events(lab, h1, 0)] == [
        early.access_id + 2
    ]
    assert actors.h1.access.access_events(summary, h1, 0) == []
    assert actors.h1.access.access_events(lab, clinic, after.sent.block_number + 1) == []
    with pytest.raises(ValueError, match="block window"):
        actors.h1.access.access_events(lab, clinic, 10, 9)

    # The custodian gateway's raw look-up of one access gives the same answers.
    a = actors.h1.deployment.addresses
    fast = FastCalls(
        actors.h1.client.url, a["ConsentRegistry"], a["ReferralRegistry"], access_log=a["AccessLog"]
    )
    try:
        head = fast.block_number()
        assert head == actors.h1.client.block_number()
        assert fast.access_count() == actors.h1.access.access_count()
        for e in events:
            found = fast.logged_access(
                e.access_id, lab, clinic.lower(), early.sent.block_number, head
            )
            assert found == LoggedAccess(e.access_id, clinic.lower(), e.block_number)
        late_block = late.sent.block_number
        assert fast.logged_access(late.access_id, lab, clinic, late_block, late_block)
        # Outside the window, another record, another reader: nothing.
        assert (
            fast.logged_access(early.access_id, lab, clinic, early.sent.block_number + 1, head)
            is None
        )
        assert fast.logged_access(late.access_id, summary, clinic, 0, head) is None
        assert fast.logged_access(late.access_id, lab, h1, 0, head) is None
        own = actors.h1.access.access_events(lab, h1, 0)[0]
        assert fast.logged_access(own.access_id, lab, h1, 0, head) == LoggedAccess(
            own.access_id, h1.lower(), own.block_number
        )
        with pytest.raises(ValueError, match="block window"):
            fast.logged_access(1, lab, clinic, 10, 9)
    finally:
        fast.close()


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
    # a member cannot log on another's behalf
    reverts(
        "NotOwnAccess",
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

    who = sha("reviewer pseudonym")
    reverts("NotReader", lambda: actors.clinic.access.justify(bg.access_id, sha("why"), who))
    reverts("MissingReason", lambda: access.justify(bg.access_id, b"\0" * 32, who))
    reverts("MissingReviewer", lambda: access.justify(bg.access_id, sha("why"), b"\0" * 32))
    reverts("NotBreakGlass", lambda: access.justify(bg.access_id + 100, sha("why"), who))
    reverts("NotJustified", lambda: actors.regulator.access.close_break_glass(bg.access_id, True))
    access.justify(bg.access_id, sha("cardiac arrest; record of allergies needed"), who)
    reverts("AlreadyJustified", lambda: access.justify(bg.access_id, sha("again"), who))
    assert actors.regulator.access.unjustified_break_glass() == []
    justified = actors.regulator.access.events("BreakGlassJustified", accessId=bg.access_id)[-1]
    assert justified.args["justificationHash"] == sha("cardiac arrest; record of allergies needed")
    assert justified.args["reviewer"] == who
    assert access.break_glass_review(bg.access_id) == (Review.JUSTIFIED, who)


def test_only_the_regulator_closes_a_break_glass_review(actors: Actors) -> None:
    h1 = actors.h1.client.address
    record = register(actors.clinic, actors.patient, Category.CHRONIC_CARE)
    first = actors.h1.access.log_break_glass(record, h1, sha("first")).access_id
    second = actors.h1.access.log_break_glass(record, h1, sha("second")).access_id
    actors.h1.access.justify(first, sha("why"), sha("reviewer"))
    regulator = actors.regulator.client.address
    reverts("NotRegulator", lambda: actors.h1.access.close_break_glass(first, True))
    reverts("NotRegulator", lambda: actors.clinic.access.close_break_glass(first, False))
    reverts("NotBreakGlass", lambda: actors.regulator.access.close_break_glass(second + 9, False))
    actors.regulator.access.close_break_glass(first, True)
    actors.regulator.access.close_break_glass(second, False)  # never justified: flagged
    reverts("AlreadyClosed", lambda: actors.regulator.access.close_break_glass(first, False))
    reverts("AlreadyClosed", lambda: actors.h1.access.justify(second, sha("late"), sha("r")))
    assert actors.h1.access.break_glass_review(first)[0] == Review.ACCEPTED
    assert actors.h1.access.break_glass_review(second)[0] == Review.FLAGGED
    closed = actors.h1.access.events("BreakGlassClosed")
    assert [(int(e.args["accessId"]), e.args["regulator"], e.args["accepted"]) for e in closed][
        -2:
    ] == [(first, regulator, True), (second, regulator, False)]


def test_only_the_regulator_publishes_the_audit_key(actors: Actors) -> None:
    key = bytes(range(32))
    reverts("NotRegulator", lambda: actors.h1.access.set_audit_key(key))
    reverts("InvalidAuditKey", lambda: actors.regulator.access.set_audit_key(b"\0" * 32))
    actors.regulator.access.set_audit_key(key)
    assert actors.h1.access.audit_key() == (actors.regulator.client.address, key)


def test_removed_member_loses_consent_based_access(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    record = register(actors.h1, actors.patient, Category.LAB)
    assert actors.h1.consents.permits(
        g.consent_id, actors.patient.address, clinic, Category.LAB, Purpose.TREATMENT
    )
    p = actors.h1.registry.propose_threshold(1)
    actors.h3.registry.approve(p.proposal_id)
    actors.h1.registry.propose_remove_member(clinic)
    assert not actors.h1.consents.permits(
        g.consent_id, actors.patient.address, clinic, Category.LAB, Purpose.TREATMENT
    )
    # Only the clinic could log its read, and it no longer may write at all.
    reverts(
        "NotMember",
        lambda: actors.clinic.access.log_access(
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

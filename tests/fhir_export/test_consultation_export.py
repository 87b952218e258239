"""A consultation as ServiceRequest + Task (every chain state and expiry), its steps as BALP
AuditEvents, and the consultation kind of the audit log's visibility over a real SQLite
index: every resource validates and has the R4 4.0.1 shape (r4_shape)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from sharing_api.chain import Basis, ConsultationStatus
from sharing_api.fhir_export.audit_event import access_event, consultation_step_events
from sharing_api.fhir_export.audit_log import Scope, audit_events
from sharing_api.fhir_export.consultation import consultation_bundle
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import consultation_steps, consultations
from tests.fhir_export.samples import (
    CLINIC,
    H1,
    NAMES,
    NOW,
    PATIENT,
    access_row,
    consultation_row,
    step,
)
from tests.fhir_export.test_exports import codes, r4

C = ConsultationStatus
ASKED = step("requested", CLINIC, NOW - 90)
ACCEPTED = step("accepted", H1, NOW - 80)
REPORTED = step("reported", H1, NOW - 40)
CLOSED = step("closed", CLINIC, NOW - 30)


@pytest.mark.parametrize(
    ("status", "now", "task", "wanted", "state", "reason"),
    [
        (C.REQUESTED, NOW, "requested", "active", "requested", None),
        (C.ACCEPTED, NOW, "accepted", "active", "accepted", None),
        (C.DECLINED, NOW, "rejected", "revoked", "declined", "declined by the consultant"),
        (C.REPORTED, NOW, "completed", "active", "reported", None),
        (C.CLOSED, NOW, "completed", "completed", "closed", None),
        (C.CANCELLED, NOW, "cancelled", "revoked", "cancelled", "cancelled by the requester"),
        (C.REQUESTED, NOW + 500, "cancelled", "revoked", "expired", "expired before it was "),
        (C.ACCEPTED, NOW + 500, "cancelled", "revoked", "expired", "expired before it was "),
        (C.REPORTED, NOW + 500, "completed", "active", "reported", None),  # reported in time
    ],
)
def test_consultation_lifecycle(
    status: C, now: int, task: str, wanted: str, state: str, reason: str | None
) -> None:
    report = 21 if status in (C.REPORTED, C.CLOSED) else 0
    row = consultation_row(status=int(status), report_record_id=report)
    bundle = r4(consultation_bundle(row, [ASKED, ACCEPTED], now, NAMES))
    sr, t = (e["resource"] for e in bundle["entry"])
    assert (sr["resourceType"], t["resourceType"]) == ("ServiceRequest", "Task")
    assert (sr["id"], t["id"]) == ("consultation-9", "consultation-9")
    assert t["identifier"] == [{"system": "urn:alliance:consultation", "value": "9"}]
    assert t["focus"] == {"reference": bundle["entry"][0]["fullUrl"]} == t["basedOn"][0]
    assert (t["status"], sr["status"], t["businessStatus"]["text"]) == (task, wanted, state)
    assert t["businessStatus"]["coding"][0]["system"] == "urn:alliance:consultation-status"
    if reason is None:
        assert "statusReason" not in t
    else:
        assert t["statusReason"]["text"].startswith(reason)
    assert sr["code"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "11429006", "display": "Consultation"}
    ]
    assert t["requester"]["reference"] == sr["requester"]["reference"] == f"Organization/{CLINIC}"
    assert t["owner"] == sr["performer"][0]
    assert t["owner"]["reference"] == f"Organization/{H1}"
    assert t["owner"]["display"] == NAMES[H1]
    assert t["for"]["reference"] == sr["subject"]["reference"] == f"Patient/{PATIENT}"
    # The named records are the Task's input and the request's supporting info, with the consent.
    assert [i["type"]["text"] for i in t["input"]] == ["record to consult on"] * 2
    assert [i["valueReference"]["identifier"]["value"] for i in t["input"]] == ["11", "12"]
    info = [i.get("reference") or i["identifier"]["value"] for i in sr["supportingInfo"]]
    assert info == ["11", "12", "Consent/consent-3"]
    last = "2026-05-28T20:35:00Z" if state == "expired" else "2026-05-28T20:25:20Z"
    assert t["lastModified"] == last
    end = "2026-05-28T20:35:00Z"  # expires_at
    assert t["restriction"]["period"]["end"] == sr["occurrencePeriod"]["end"] == end
    if report:  # the report's record is what came back
        (out,) = t["output"]
        assert out["type"]["coding"][0]["code"] == "11488-4"  # LOINC Consult note
        assert out["valueReference"]["identifier"] == {
            "system": "urn:alliance:record",
            "value": "21",
        }
    else:
        assert "output" not in t


def test_consultation_steps() -> None:
    row = consultation_row(status=int(C.CLOSED), report_record_id=21)
    steps = [ASKED, ACCEPTED, REPORTED, CLOSED]
    events = [r4(e) for e in consultation_step_events(row, steps, NAMES)]
    assert [e["id"] for e in events] == [
        "consultation-9-requested",
        "consultation-9-accepted",
        "consultation-9-reported",
        "consultation-9-closed",
    ]
    assert [e["action"] for e in events] == ["C", "U", "U", "U"]
    assert [e["meta"]["profile"][0].rsplit(".", 1)[1] for e in events] == [
        "PatientCreate",
        "PatientUpdate",
        "PatientUpdate",
        "PatientUpdate",
    ]
    assert [e["agent"][0]["who"]["reference"] for e in events] == [
        f"Organization/{x}" for x in (CLINIC, H1, H1, CLINIC)
    ]
    assert events[1]["source"]["observer"]["display"] == NAMES[H1]
    assert all(codes(e["purposeOfEvent"]) == [["COC", "consultation"]] for e in events)
    assert events[2]["recorded"] == "2026-05-28T20:26:00Z"  # NOW - 40
    for e in events:
        assert e["entity"][0]["what"]["reference"] == f"Patient/{PATIENT}"
        assert e["entity"][1]["what"] == {"reference": "Task/consultation-9"}
    assert [e["entity"][1]["detail"][0]["valueString"] for e in events] == [
        "requested",
        "accepted",
        "reported",
        "closed",
    ]
    # Only the reported step names the report's record, in the object role Report.
    report = events[2]["entity"][2]
    assert (report["role"]["code"], report["what"]["identifier"]["value"]) == ("3", "21")
    assert [len(e["entity"]) for e in events] == [2, 2, 3, 2]


def test_a_repeated_step_row_exports_once() -> None:
    events = consultation_step_events(consultation_row(), [ASKED, ASKED, ACCEPTED])
    assert [e["id"] for e in events] == ["consultation-9-requested", "consultation-9-accepted"]
    assert events[0]["recorded"] == "2026-05-28T20:25:10Z"


def test_a_read_on_the_consultation_basis_names_the_consultation() -> None:
    e = r4(access_event(access_row(int(Basis.CONSULTATION), basis_id=9, purpose=2), CLINIC))
    authorised = e["entity"][2]
    assert authorised["what"] == {"reference": "Task/consultation-9"}
    assert authorised["role"]["code"] == "13"  # Security Resource
    assert e["agent"][-1]["policy"] == ["urn:alliance:basis:consultation:9"]
    assert codes(e["purposeOfEvent"]) == [["COC", "consultation"]]


OTHER = "0x" + "e4" * 20  # a member that is no party
SOMEONE = "0x" + "f5" * 20  # another patient


@pytest.fixture
def index(tmp_path: Path) -> Iterator[IndexDB]:
    """Consultation 9 (clinic asks h1 about PATIENT) and 10 (OTHER asks h1 about SOMEONE)."""
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    rows = [
        consultation_row(record_ids=json.dumps([11, 12])),
        consultation_row(
            consultation_id=10, patient=SOMEONE, requester=OTHER, record_ids=json.dumps([13])
        ),
    ]
    steps = [ASKED, ACCEPTED, {**step("requested", OTHER, NOW - 60), "consultation_id": 10}]
    with db.engine.begin() as conn:
        conn.execute(insert(consultations), rows)
        conn.execute(
            insert(consultation_steps), [{k: v for k, v in s.items() if k != "id"} for s in steps]
        )
    try:
        yield db
    finally:
        db.close()


def _ids(db: IndexDB, scope: Scope, **kw: Any) -> list[str]:
    return [e["id"] for e in audit_events(db, scope, **kw)]


def test_who_sees_which_consultation_steps(index: IndexDB) -> None:
    ninth = ["consultation-9-requested", "consultation-9-accepted"]
    tenth = ["consultation-10-requested"]
    everything = ["consultation-9-requested", "consultation-9-accepted", *tenth]  # by time
    assert _ids(index, Scope(), kinds=["consultation"]) == everything  # the regulator
    assert _ids(index, Scope(patients=PATIENT)) == ninth  # the patient: their own
    assert _ids(index, Scope(patients=[SOMEONE, "0x" + "01" * 20])) == tenth
    assert _ids(index, Scope(member="0x" + CLINIC[2:].upper())) == ninth  # requester, any case
    assert _ids(index, Scope(member=H1), kinds=["consultation"]) == everything  # consultant
    assert _ids(index, Scope(member=OTHER)) == tenth
    assert _ids(index, Scope(member="0x" + "99" * 20)) == []  # no party to either
    assert _ids(index, Scope(), kinds=["referral"]) == []
    with pytest.raises(ValueError, match="unknown event kind 'consult'"):
        audit_events(index, Scope(), kinds=["consult"])

"""The export builders over index-shaped rows: every resource validates (R4B models plus the
R4 guard) and has the R4 4.0.1 shape (r4_shape), with the fields the issue asks for."""

from __future__ import annotations

from typing import Any

import pytest

from sharing_api.chain import Basis, ReferralStatus
from sharing_api.fhir import validate_resource
from sharing_api.fhir_export.audit_event import access_event, consent_events, referral_step_event
from sharing_api.fhir_export.consent import consent_resource
from sharing_api.fhir_export.referral import referral_bundle
from tests.fhir_export.r4_shape import r4_shape_problems
from tests.fhir_export.samples import (
    CLINIC,
    H1,
    NAMES,
    NO_STAFF,
    NOW,
    PATIENT,
    STAFF,
    access_row,
    change,
    consent_row,
    referral_row,
)

S = ReferralStatus


def r4(resource: dict[str, Any]) -> dict[str, Any]:
    assert r4_shape_problems(resource) == []
    assert validate_resource(resource) == resource
    return resource


def codes(concepts: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["code"] for c in cc["coding"]] for cc in concepts]


def test_consent_provision() -> None:
    c = r4(consent_resource(consent_row(), NOW, NAMES))
    assert (c["resourceType"], c["id"], c["status"]) == ("Consent", "consent-3", "active")
    assert c["patient"]["reference"] == f"Patient/{PATIENT}"
    p = c["provision"]
    assert [x["code"] for x in p["purpose"]] == ["TREAT", "COC"]
    assert {x["system"] for x in p["purpose"]} == {
        "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    }
    assert p["period"] == {"start": "2026-05-28T20:25:00Z", "end": "2026-05-28T20:43:20Z"}
    assert [x["code"] for x in p["class"]] == ["summary", "lab", "chronic-care"]
    (actor,) = p["actor"]
    assert actor["reference"]["reference"] == f"Organization/{H1}"
    assert actor["reference"]["display"] == NAMES[H1]
    assert actor["role"]["coding"][0]["code"] == "IRCP"


@pytest.mark.parametrize(
    ("over", "status"),
    [
        ({"revoked": True}, "inactive"),
        ({"valid_until": NOW}, "inactive"),
        ({"valid_from": NOW + 1}, "proposed"),
    ],
)
def test_consent_status(over: dict[str, Any], status: str) -> None:
    assert r4(consent_resource(consent_row(**over), NOW))["status"] == status


def test_consent_to_a_role() -> None:
    c = r4(consent_resource(consent_row(grantee="0x" + "00" * 20, grantee_role=1), NOW))
    ref = c["provision"]["actor"][0]["reference"]
    assert ref["identifier"]["value"] == "hospital" and "reference" not in ref


HISTORY = [
    change(S.NONE, S.CREATED, CLINIC, NOW - 90),
    change(S.CREATED, S.ACCEPTED, H1, NOW - 80),
]


@pytest.mark.parametrize(
    ("status", "now", "task", "wanted", "state"),
    [
        (S.CREATED, NOW, "requested", "active", "created"),
        (S.ACCEPTED, NOW, "accepted", "active", "accepted"),
        (S.REJECTED, NOW, "rejected", "revoked", "rejected"),
        (S.COMPLETED, NOW, "completed", "completed", "completed"),
        (S.CANCELLED, NOW, "cancelled", "revoked", "cancelled"),
        (S.WITHDRAWN, NOW, "cancelled", "revoked", "withdrawn"),
        (S.ACCEPTED, NOW + 500, "cancelled", "revoked", "expired"),
        (S.COMPLETED, NOW + 500, "completed", "completed", "completed"),  # over is over
    ],
)
def test_referral_lifecycle(status: S, now: int, task: str, wanted: str, state: str) -> None:
    bundle = r4(referral_bundle(referral_row(status=int(status)), HISTORY, now, NAMES))
    sr, t = (e["resource"] for e in bundle["entry"])
    assert (sr["resourceType"], t["resourceType"]) == ("ServiceRequest", "Task")
    # The Task's focus resolves inside the Bundle: it is the ServiceRequest entry's fullUrl.
    request_url = bundle["entry"][0]["fullUrl"]
    assert request_url.startswith("urn:uuid:")
    assert t["focus"] == {"reference": request_url} and t["basedOn"] == [t["focus"]]
    assert (t["status"], sr["status"], t["businessStatus"]["text"]) == (task, wanted, state)
    assert t["for"]["reference"] == sr["subject"]["reference"] == f"Patient/{PATIENT}"
    assert t["requester"]["reference"] == sr["requester"]["reference"] == f"Organization/{CLINIC}"
    assert t["owner"]["reference"] == f"Organization/{H1}"
    assert t["authoredOn"] == sr["authoredOn"] == "2026-05-28T20:25:10Z"  # the creating block
    last = "2026-05-28T20:35:00Z" if state == "expired" else "2026-05-28T20:25:20Z"
    assert t["lastModified"] == last
    assert [i["valueReference"]["identifier"]["value"] for i in t["input"]] == ["11", "12"]
    assert sr["code"]["coding"][0]["code"] == "3457005"


@pytest.mark.parametrize("basis", list(Basis))
def test_access_is_a_balp_privacy_disclosure(basis: Basis) -> None:
    review = 1 if basis is Basis.BREAK_GLASS else 0
    e = r4(access_event(access_row(int(basis), review=review), CLINIC, NAMES))
    assert e["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
        "IHE.BasicAudit.PrivacyDisclosure.Source"
    ]
    assert (e["type"]["code"], e["action"]) == ("110106", "R")
    assert [s["code"] for s in e["subtype"]] == ["disclose", "read"]
    expected = [["TREAT", "treatment"]] + ([["BTG"]] if basis is Basis.BREAK_GLASS else [])
    assert codes(e["purposeOfEvent"]) == expected
    types = [a["type"]["coding"][0]["code"] for a in e["agent"]]
    assert types == ["110153", "CST", "110152", "IRCP"]
    assert [a["requestor"] for a in e["agent"]] == [False, False, False, True]
    assert e["agent"][3]["who"]["identifier"]["value"] == STAFF
    policy = f"urn:alliance:basis:{basis.label}:3"
    assert e["agent"][2]["policy"] == e["agent"][3]["policy"] == [policy]
    roles = [x["role"]["code"] for x in e["entity"]]
    assert roles[:2] == ["1", "4"] and e["entity"][0]["what"]["reference"] == f"Patient/{PATIENT}"
    authorised = {
        Basis.CONSENT: "Consent/consent-3",
        Basis.REFERRAL: "Task/referral-3",
        Basis.CONSULTATION: "Task/consultation-3",
    }
    if basis in authorised:
        assert e["entity"][2]["what"]["reference"] == authorised[basis]
    if basis is Basis.BREAK_GLASS:
        assert e["entity"][2]["detail"][0] == {"type": "break-glass-review", "valueString": "open"}


def test_a_member_read_names_the_member_as_requestor() -> None:
    e = r4(access_event(access_row(0, staff=NO_STAFF)))  # custodian unknown, no staff
    assert [(a["type"]["coding"][0]["code"], a["requestor"]) for a in e["agent"]] == [
        ("110152", True)
    ]


def test_consent_decisions() -> None:
    granted = consent_events(consent_row(), NAMES)
    assert [e["id"] for e in granted] == ["consent-3-grant"]
    both = consent_events(consent_row(revoked=True, revoked_at=NOW - 10), NAMES)
    grant, revoke = (r4(e) for e in both)
    assert (grant["action"], revoke["action"]) == ("C", "U")
    assert grant["meta"]["profile"][0].endswith("PatientCreate")
    assert revoke["meta"]["profile"][0].endswith("PatientUpdate")
    assert revoke["recorded"] == "2026-05-28T20:26:30Z"
    for e in (grant, revoke):
        assert codes(e["purposeOfEvent"]) == [["PATRQT"]]
        assert e["agent"][0]["who"]["reference"] == f"Patient/{PATIENT}"
        assert e["agent"][0]["requestor"] is True
        assert e["entity"][1]["what"]["reference"] == "Consent/consent-3"


def test_referral_steps() -> None:
    steps = [*HISTORY, change(S.ACCEPTED, S.WITHDRAWN, PATIENT, NOW - 70)]
    events = [r4(referral_step_event(referral_row(), c, NAMES)) for c in steps]
    assert [e["id"] for e in events] == [
        "referral-7-created",
        "referral-7-accepted",
        "referral-7-withdrawn",
    ]
    assert [e["action"] for e in events] == ["C", "U", "U"]
    assert [e["agent"][0]["who"]["reference"] for e in events] == [
        f"Organization/{CLINIC}",
        f"Organization/{H1}",
        f"Patient/{PATIENT}",
    ]
    assert codes(events[0]["purposeOfEvent"]) == [["COC", "referral"]]
    assert events[2]["entity"][1]["detail"][0]["valueString"] == "accepted->withdrawn"

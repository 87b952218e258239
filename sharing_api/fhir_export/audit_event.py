"""Chain events as AuditEvents shaped by the IHE Basic Audit Log Patterns (BALP 1.1).

- An access (AccessLog, any basis: consent, referral, custodian, break-glass) is a
  **PrivacyDisclosure** at the source: type DICOM 110106 Export, subtype ISO 21089
  ``disclose`` + RESTful ``read``; agents: the custodian (source role, and custodian),
  the reading member (destination role, the requestor unless a staff member read) and the
  staff member by pseudonym (information recipient, the requestor); entities: the patient,
  the record, and what authorised it (the consent, referral or consultation Task;
  ``agent.policy`` names it too: the consent-authorized access pattern). ``purposeOfEvent``
  is the recorded purpose in ActReason (purpose_codes), plus BTG for break-glass.
- A consent decision is **PatientCreate** (grant) or **PatientUpdate** (revocation) of the
  Consent, authored by the patient (purpose PATRQT).
- A referral step is **PatientCreate** (created) or **PatientUpdate** (every later status)
  of the Task, by the member (or the patient) who moved it.
- A consultation step is **PatientCreate** (requested) or **PatientUpdate** (accepted,
  declined, reported, closed, cancelled) of the Task, by the member who took it; the
  reported step also names the report's record (object role Report).
Every event is validated as R4 before it is returned.
"""

from __future__ import annotations

from typing import Any

from sharing_api.chain import Basis, Purpose, ReferralStatus
from sharing_api.chain.scopes import Review
from sharing_api.fhir import validate_resource
from sharing_api.fhir_export.common import (
    TX_SYSTEM,
    Names,
    consent_ref,
    is_zero,
    iso,
    member_ref,
    patient_ref,
    record_ref,
    staff_ref,
)
from sharing_api.fhir_export.purpose_codes import PATIENT_REQUEST, coded, purpose_of_use

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SITE = "AllianceLedger"


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _patient_entity(patient: str) -> dict[str, Any]:
    return {
        "what": patient_ref(patient),
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
    }


def _object_entity(
    what: dict[str, Any],
    *,
    role: str = "4",
    display: str = "Domain Resource",
    detail: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "what": what,
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": role, "display": display},
    }
    if detail:
        entity["detail"] = detail
    return entity


def _tx_entity(tx_hash: str) -> dict[str, Any]:
    """The transaction that put the event on chain: where an auditor checks it."""
    return {
        "what": {"identifier": {"system": TX_SYSTEM, "value": tx_hash}},
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "20", "display": "Job"},
    }


def _source(observer: str, names: Names | None) -> dict[str, Any]:
    return {
        "site": SITE,
        "observer": member_ref(observer, names),
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }


def _rest(profile: str, interaction: str) -> dict[str, Any]:
    return {
        "meta": {"profile": [BALP + profile]},
        "type": {"system": EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": RESTFUL, "code": interaction}],
        "action": "C" if interaction == "create" else "U",
        "outcome": "0",
    }


def _basis_entity(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """What authorised an access, and its policy URI (agent.policy)."""
    basis, basis_id = Basis(int(row["basis"])), int(row["basis_id"])
    policy = f"urn:alliance:basis:{basis.label}:{basis_id}"
    if basis is Basis.CONSENT:
        return _object_entity(consent_ref(basis_id), role="13", display="Security Resource"), policy
    if basis in (Basis.REFERRAL, Basis.CONSULTATION):  # the Task (request_task.py) it rests on
        ref = {"reference": f"Task/{basis.label}-{basis_id}"}
        return _object_entity(ref, role="13", display="Security Resource"), policy
    if basis is Basis.BREAK_GLASS:
        review = Review(int(row.get("review") or Review.OPEN)).label
        detail = [
            {"type": "break-glass-review", "valueString": review},
            {"type": "break-glass-justified", "valueString": str(bool(row["justified"])).lower()},
        ]
        what = {"identifier": {"system": "urn:alliance:access", "value": str(row["access_id"])}}
        return _object_entity(what, role="13", display="Security Resource", detail=detail), policy
    return None, policy  # the custodian reading its own record


def access_event(
    row: dict[str, Any], custodian: str | None = None, names: Names | None = None
) -> dict[str, Any]:
    """One AccessLog entry (an index row) as a BALP PrivacyDisclosure."""
    basis = Basis(int(row["basis"]))
    reader = str(row["reader"])
    staff = str(row.get("staff") or "")
    by_staff = not is_zero(staff)
    basis_entity, policy = _basis_entity(row)
    agents: list[dict[str, Any]] = []
    if custodian:
        agents.append(
            {
                "type": _concept(DCM, "110153", "Source Role ID"),
                "who": member_ref(custodian, names),
                "requestor": False,
            }
        )
        agents.append(
            {
                "type": _concept(PARTICIPATION, "CST", "custodian"),
                "who": member_ref(custodian, names),
                "requestor": False,
            }
        )
    agents.append(
        {
            "type": _concept(DCM, "110152", "Destination Role ID"),
            "who": member_ref(reader, names),
            "requestor": not by_staff,
            "policy": [policy],
        }
    )
    if by_staff:
        agents.append(
            {
                "type": _concept(PARTICIPATION, "IRCP", "information recipient"),
                "who": staff_ref(staff),
                "requestor": True,
                "policy": [policy],
            }
        )
    entities = [
        _patient_entity(str(row["patient"])),
        _object_entity(record_ref(int(row["record_id"]))),
        *([basis_entity] if basis_entity else []),
        _tx_entity(str(row["tx_hash"])),
    ]
    event = {
        "resourceType": "AuditEvent",
        "id": f"access-{int(row['access_id'])}",
        "meta": {"profile": [BALP + "PrivacyDisclosure.Source"]},
        "type": {"system": DCM, "code": "110106", "display": "Export"},
        "subtype": [
            {"system": LIFECYCLE, "code": "disclose", "display": "Disclose Record Lifecycle Event"},
            {"system": RESTFUL, "code": "read"},
        ],
        "action": "R",
        "recorded": iso(int(row["timestamp"])),
        "outcome": "0",
        "purposeOfEvent": purpose_of_use(
            Purpose(int(row["purpose"])), break_glass=basis is Basis.BREAK_GLASS
        ),
        "agent": agents,
        "source": _source(str(row["logger"]), names),
        "entity": entities,
    }
    return validate_resource(event)


def consent_events(row: dict[str, Any], names: Names | None = None) -> list[dict[str, Any]]:
    """A consent's grant, and its revocation if revoked (and its time is known)."""
    cid = int(row["consent_id"])
    patient = str(row["patient"])
    steps = [("grant", "create", int(row["timestamp"]), str(row["relayer"]))]
    if row["revoked"] and row.get("revoked_at"):
        steps.append(("revoke", "update", int(row["revoked_at"]), ""))
    events = []
    for step, interaction, at, relayer in steps:
        agents: list[dict[str, Any]] = [
            {
                "type": _concept(PARTICIPATION, "AUT", "author (originator)"),
                "who": patient_ref(patient),
                "requestor": True,
            }
        ]
        if relayer:  # the index keeps the relayer of the grant only
            agents.append(
                {
                    "type": _concept(DCM, "110150", "Application"),
                    "who": member_ref(relayer, names),
                    "requestor": False,
                }
            )
        event = {
            "resourceType": "AuditEvent",
            "id": f"consent-{cid}-{step}",
            **_rest("PatientCreate" if interaction == "create" else "PatientUpdate", interaction),
            "recorded": iso(at),
            "purposeOfEvent": [coded(PATIENT_REQUEST)],
            "agent": agents,
            "source": (
                _source(relayer, names)
                if relayer
                else {"site": SITE, "observer": patient_ref(patient)}
            ),
            "entity": [
                _patient_entity(patient),
                _object_entity(
                    consent_ref(cid),
                    detail=[{"type": "consent-decision", "valueString": step}],
                ),
            ],
        }
        events.append(validate_resource(event))
    return events


def referral_step_event(
    referral: dict[str, Any], change: dict[str, Any], names: Names | None = None
) -> dict[str, Any]:
    """One ReferralStatusChanged (an index referral_changes row) of ``referral``."""
    rid = int(referral["referral_id"])
    patient = str(referral["patient"])
    to = ReferralStatus(int(change["to_status"])).name.lower()
    frm = ReferralStatus(int(change["from_status"])).name.lower()
    by = str(change["by"])
    created = int(change["from_status"]) == ReferralStatus.NONE
    who = patient_ref(by) if by == patient else member_ref(by, names)
    event = {
        "resourceType": "AuditEvent",
        "id": f"referral-{rid}-{to}",
        **_rest("PatientCreate" if created else "PatientUpdate", "create" if created else "update"),
        "recorded": iso(int(change["timestamp"])),
        "purposeOfEvent": purpose_of_use(Purpose.REFERRAL),
        "agent": [{"who": who, "requestor": True}],
        "source": _source(by, names) if by != patient else {"site": SITE, "observer": who},
        "entity": [
            _patient_entity(patient),
            _object_entity(
                {"reference": f"Task/referral-{rid}"},
                detail=[{"type": "referral-step", "valueString": f"{frm}->{to}"}],
            ),
        ],
    }
    return validate_resource(event)


def consultation_step_events(
    consultation: dict[str, Any], steps: list[dict[str, Any]], names: Names | None = None
) -> list[dict[str, Any]]:
    """The steps (index consultation_steps rows, in chain order) of ``consultation``: one
    event per step; the chain takes each step once, so a repeated row adds nothing."""
    cid = int(consultation["consultation_id"])
    patient = str(consultation["patient"])
    report = int(consultation.get("report_record_id") or 0)
    task_ref = {"reference": f"Task/consultation-{cid}"}
    events, seen = [], set()
    for step in steps:
        name = str(step["step"])
        if name in seen:
            continue
        seen.add(name)
        created = name == "requested"
        by = str(step["by"])
        entities = [
            _patient_entity(patient),
            _object_entity(task_ref, detail=[{"type": "consultation-step", "valueString": name}]),
        ]
        if name == "reported" and report:
            entities.append(_object_entity(record_ref(report), role="3", display="Report"))
        event = {
            "resourceType": "AuditEvent",
            "id": f"consultation-{cid}-{name}",
            **_rest(
                "PatientCreate" if created else "PatientUpdate", "create" if created else "update"
            ),
            "recorded": iso(int(step["timestamp"])),
            "purposeOfEvent": purpose_of_use(Purpose.CONSULTATION),
            "agent": [{"who": member_ref(by, names), "requestor": True}],
            "source": _source(by, names),
            "entity": entities,
        }
        events.append(validate_resource(event))
    return events

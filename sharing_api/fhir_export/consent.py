"""A consent on chain as an R4 Consent: who granted what to whom, for which purposes, when.

``provision`` carries the terms the contract enforces: ``purpose`` (ActReason, from
purpose_codes), ``period`` (valid from / until), ``actor`` (the grantee as the information
recipient: a member, or every member holding a role) and ``class`` (the record categories).
"""

from __future__ import annotations

from typing import Any

from sharing_api.chain import Category, Purpose, Role
from sharing_api.chain.scopes import unmask
from sharing_api.fhir import validate_resource
from sharing_api.fhir_export.common import (
    CATEGORY_SYSTEM,
    CONSENT_SYSTEM,
    ROLE_SYSTEM,
    Names,
    is_zero,
    iso,
    member_ref,
    patient_ref,
)
from sharing_api.fhir_export.purpose_codes import act_reason

PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def consent_status(row: dict[str, Any], now: int) -> str:
    """active while the contract would honour it; inactive once revoked or over; proposed
    before it starts."""
    if row["revoked"] or now >= int(row["valid_until"]):
        return "inactive"
    return "active" if int(row["valid_from"]) <= now else "proposed"


def grantee_ref(row: dict[str, Any], names: Names | None = None) -> dict[str, Any]:
    if not is_zero(row["grantee"]):
        return member_ref(str(row["grantee"]), names)
    roles = Role(int(row["grantee_role"])).labels() or ["none"]
    return {
        "identifier": {"system": ROLE_SYSTEM, "value": ",".join(roles)},
        "display": "any member holding the role " + " or ".join(roles),
    }


def consent_resource(row: dict[str, Any], now: int, names: Names | None = None) -> dict[str, Any]:
    """The index's consent row as a validated R4 Consent."""
    cid = int(row["consent_id"])
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"consent-{cid}",
        "identifier": [{"system": CONSENT_SYSTEM, "value": str(cid)}],
        "status": consent_status(row, now),
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Consent"}]}
        ],
        "patient": patient_ref(str(row["patient"])),
        "dateTime": iso(int(row["timestamp"])),
        "performer": [patient_ref(str(row["patient"]))],  # the patient signed it (EIP-712)
        "organization": [member_ref(str(row["relayer"]), names)],  # relayed it on chain
        "sourceReference": {
            "identifier": {"system": "urn:alliance:tx", "value": str(row["tx_hash"])},
            "display": "the patient's EIP-712 grant, relayed on chain",
        },
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": iso(int(row["valid_from"])), "end": iso(int(row["valid_until"]))},
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                    "reference": grantee_ref(row, names),
                }
            ],
            "purpose": [act_reason(p) for p in unmask(Purpose, int(row["purposes"]))],
            "class": [
                {"system": CATEGORY_SYSTEM, "code": c.label}
                for c in unmask(Category, int(row["categories"]))
            ],
        },
    }
    return validate_resource(resource)

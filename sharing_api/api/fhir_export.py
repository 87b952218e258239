"""FHIR R4 views of chain facts: a consent as a Consent resource, accesses as AuditEvents.

Built from the index rows and validated with ``fhir.resources`` before they are served.
Patients are identified by wallet address (no personal data on chain or here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sharing_api.chain import Basis, Category, Purpose
from sharing_api.chain.scopes import unmask
from sharing_api.fhir import validate_resource

ADDRESS_SYSTEM = "urn:ietf:rfc:3986"
CATEGORY_SYSTEM = "urn:alliance:record-category"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
# Our purposes in the v3 ActReason vocabulary.
PURPOSE_CODES = {
    Purpose.TREATMENT: "TREAT",
    Purpose.REFERRAL: "TREAT",
    Purpose.CONSULTATION: "TREAT",
    Purpose.RESEARCH: "HRESCH",
    Purpose.EMERGENCY: "ETREAT",
}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wallet(address: str) -> dict[str, Any]:
    return {"identifier": {"system": "urn:alliance:wallet", "value": address}}


def _staff_agent(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The person who read, by the pseudonym on chain only (none when the member read)."""
    staff = str(row.get("staff") or "")
    if not staff or int(staff, 16) == 0:
        return []
    who = {"identifier": {"system": "urn:alliance:staff-pseudonym", "value": staff}}
    return [{"who": who, "requestor": True}]


def consent_resource(row: dict[str, Any], now: int) -> dict[str, Any]:
    live = not row["revoked"] and row["valid_from"] <= now < row["valid_until"]
    actor: dict[str, Any] = (
        _wallet(row["grantee"])
        if int(row["grantee"], 16)
        else {"display": f"any member holding role bit {row['grantee_role']}"}
    )
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"consent-{row['consent_id']}",
        "status": "active" if live else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": _wallet(row["patient"]),
        "dateTime": _iso(int(row["timestamp"])),
        "organization": [_wallet(row["relayer"])],
        "sourceReference": {"display": f"EIP-712 grant, tx {row['tx_hash']}"},
        "policyRule": {"coding": [{"system": PURPOSE_SYSTEM, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": _iso(int(row["valid_from"])), "end": _iso(int(row["valid_until"]))},
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": actor,
                }
            ],
            "purpose": [
                {"system": PURPOSE_SYSTEM, "code": PURPOSE_CODES[p], "display": p.label}
                for p in unmask(Purpose, int(row["purposes"]))
            ],
            "class": [
                {"system": CATEGORY_SYSTEM, "code": c.label}
                for c in unmask(Category, int(row["categories"]))
            ],
        },
    }
    return validate_resource(resource)


def audit_event(row: dict[str, Any]) -> dict[str, Any]:
    basis = Basis(int(row["basis"]))
    purpose = Purpose(int(row["purpose"]))
    return {
        "resourceType": "AuditEvent",
        "id": f"access-{row['access_id']}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R",
        "recorded": _iso(int(row["timestamp"])),
        "outcome": "0",
        "purposeOfEvent": [
            {"coding": [{"system": PURPOSE_SYSTEM, "code": PURPOSE_CODES[purpose]}]}
        ],
        "agent": [
            {
                "who": _wallet(row["reader"]),
                "requestor": True,
                "policy": [f"urn:alliance:basis:{basis.name.lower()}:{row['basis_id']}"],
            },
            *_staff_agent(row),
        ],
        "source": {
            "observer": _wallet(row["logger"]),
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                }
            ],
        },
        "entity": [
            {
                "what": {
                    "identifier": {"system": "urn:alliance:record", "value": str(row["record_id"])}
                }
            },
            {
                "what": _wallet(row["patient"]),
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                },
            },
            {
                "what": {"identifier": {"system": "urn:alliance:tx", "value": row["tx_hash"]}},
                "detail": [
                    {
                        "type": "break-glass-justified",
                        "valueString": str(bool(row["justified"])).lower(),
                    }
                ],
            },
        ],
    }


def audit_bundle(rows: list[dict[str, Any]], now: int) -> dict[str, Any]:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _iso(now),
        "entry": [
            {"fullUrl": f"urn:alliance:access:{r['access_id']}", "resource": audit_event(r)}
            for r in rows
        ],
    }
    return validate_resource(bundle)

"""Shared pieces of every export: times, and references to members, patients and records.

Nothing here names a person: a patient is the pseudonym the chain holds for them at one
custodian (``Patient/<address>``), a member is its ledger address (``Organization/<address>``,
named where the caller passes the alliance's names), staff appear by their keyed pseudonym.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

PATIENT_SYSTEM = "urn:alliance:wallet"  # the address the chain holds for the patient
MEMBER_SYSTEM = "urn:alliance:member"
RECORD_SYSTEM = "urn:alliance:record"
CONSENT_SYSTEM = "urn:alliance:consent"
REFERRAL_SYSTEM = "urn:alliance:referral"
STAFF_SYSTEM = "urn:alliance:staff-pseudonym"
TX_SYSTEM = "urn:alliance:tx"
CATEGORY_SYSTEM = "urn:alliance:record-category"
ROLE_SYSTEM = "urn:alliance:member-role"

Names = Mapping[str, str]  # member address (lowercase) -> its name


def iso(ts: int) -> str:
    """A Unix time as a FHIR instant (UTC, seconds)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def patient_ref(address: str) -> dict[str, Any]:
    address = address.lower()
    return {
        "reference": f"Patient/{address}",
        "identifier": {"system": PATIENT_SYSTEM, "value": address},
    }


def member_ref(address: str, names: Names | None = None) -> dict[str, Any]:
    address = address.lower()
    ref: dict[str, Any] = {
        "reference": f"Organization/{address}",
        "identifier": {"system": MEMBER_SYSTEM, "value": address},
    }
    name = (names or {}).get(address)
    if name:
        ref["display"] = name
    return ref


def record_ref(record_id: int) -> dict[str, Any]:
    """A record by its on-chain id: its content stays sealed at the custodian's gateway."""
    return {
        "identifier": {"system": RECORD_SYSTEM, "value": str(int(record_id))},
        "display": f"record {int(record_id)}",
    }


def consent_ref(consent_id: int) -> dict[str, Any]:
    return {
        "reference": f"Consent/consent-{int(consent_id)}",
        "identifier": {"system": CONSENT_SYSTEM, "value": str(int(consent_id))},
    }


def staff_ref(pseudonym: str) -> dict[str, Any]:
    return {"identifier": {"system": STAFF_SYSTEM, "value": pseudonym}}


def is_zero(hex_value: str | None) -> bool:
    return not hex_value or int(hex_value, 16) == 0

"""Our purposes of use in HL7 v3 ActReason codes: the one table every export reads.

The local purposes are the contracts' (``contracts/src/Interfaces.sol``: PURPOSE_*), the
wallet's ``PURPOSES`` and ``sharing_api.chain.Purpose``. ActReason has no code for a referral
or a consultation as such: both are coordination of care between providers (``COC``, a
specialisation of ``TREAT``). Every exported purpose also carries the local code beside the
ActReason one, so nothing is lost by the mapping. ``tests/fhir_export/test_purpose_codes.py``
fixes the table: change it there too, on purpose.
"""

from __future__ import annotations

from typing import Any

from sharing_api.chain import Purpose

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
LOCAL_PURPOSE = "urn:alliance:purpose"

# local purpose -> (ActReason code, its display in the code system)
PURPOSE_CODES: dict[Purpose, tuple[str, str]] = {
    Purpose.TREATMENT: ("TREAT", "treatment"),
    Purpose.REFERRAL: ("COC", "coordination of care"),
    Purpose.CONSULTATION: ("COC", "coordination of care"),
    Purpose.RESEARCH: ("HRESCH", "healthcare research"),
    Purpose.EMERGENCY: ("ETREAT", "Emergency Treatment"),
}
# Added to the purpose of every break-glass read (ActReason BTG specialises ETREAT).
BREAK_GLASS: tuple[str, str] = ("BTG", "break the glass")
# The purpose of a patient's own consent decision (grant or revocation).
PATIENT_REQUEST: tuple[str, str] = ("PATRQT", "patient requested")


def act_reason(purpose: Purpose) -> dict[str, str]:
    """The ActReason Coding of a local purpose (e.g. Consent.provision.purpose)."""
    code, display = PURPOSE_CODES[purpose]
    return {"system": ACT_REASON, "code": code, "display": display}


def purpose_of_use(purpose: Purpose, *, break_glass: bool = False) -> list[dict[str, Any]]:
    """AuditEvent.purposeOfEvent: the ActReason and local codings of the purpose, and BTG
    as a second concept for a break-glass read."""
    concepts: list[dict[str, Any]] = [
        {
            "coding": [
                act_reason(purpose),
                {"system": LOCAL_PURPOSE, "code": purpose.label},
            ],
            "text": purpose.label,
        }
    ]
    if break_glass:
        concepts.append(coded(BREAK_GLASS))
    return concepts


def coded(code: tuple[str, str]) -> dict[str, Any]:
    """A CodeableConcept of one ActReason code from the constants above."""
    return {"coding": [{"system": ACT_REASON, "code": code[0], "display": code[1]}]}

"""Index-shaped rows (sharing_api/index/schema.py) for the export builders."""

from __future__ import annotations

from typing import Any

PATIENT = "0x" + "a1" * 20
CLINIC = "0x" + "c3" * 20
H1 = "0x" + "b2" * 20
TX = "0x" + "dd" * 32
STAFF = "0x" + "5e" * 32
NO_STAFF = "0x" + "00" * 32
NOW = 1_780_000_000
NAMES = {H1: "City Third People's Hospital", CLINIC: "Heshan Township Health Center"}


def consent_row(**over: Any) -> dict[str, Any]:
    row = {
        "consent_id": 3,
        "patient": PATIENT,
        "grantee": H1,
        "grantee_role": 0,
        "categories": 0b100011,  # summary, lab, chronic-care
        "purposes": 0b00011,  # treatment, referral
        "valid_from": NOW - 100,
        "valid_until": NOW + 1000,
        "document_hash": TX,
        "relayer": CLINIC,
        "revoked": False,
        "revoked_block": None,
        "revoked_at": None,
        "block_number": 5,
        "tx_hash": TX,
        "timestamp": NOW - 100,
    }
    return {**row, **over}


def referral_row(**over: Any) -> dict[str, Any]:
    row = {
        "referral_id": 7,
        "patient": PATIENT,
        "referrer": CLINIC,
        "receiver": H1,
        "direction": 0,
        "record_ids": [11, 12],
        "consent_id": 3,
        "status": 1,
        "reason_hash": TX,
        "expires_at": NOW + 500,
        "block_number": 5,
        "tx_hash": TX,
        "timestamp": NOW - 90,
    }
    return {**row, **over}


def change(frm: int, to: int, by: str, at: int) -> dict[str, Any]:
    return {
        "id": to,
        "referral_id": 7,
        "from_status": frm,
        "to_status": to,
        "by": by,
        "note_hash": TX,
        "block_number": 5 + to,
        "log_index": 0,
        "timestamp": at,
    }


def access_row(basis: int, **over: Any) -> dict[str, Any]:
    row = {
        "access_id": 40 + basis,
        "record_id": 11,
        "patient": PATIENT,
        "reader": H1,
        "logger": H1,
        "purpose": 0,
        "basis": basis,
        "basis_id": 3,
        "reason_hash": TX,
        "staff": STAFF,
        "justified": False,
        "justification_hash": None,
        "review": 0,
        "block_number": 9,
        "tx_hash": TX,
        "timestamp": NOW - 5,
    }
    return {**row, **over}


def consultation_row(**over: Any) -> dict[str, Any]:
    """The clinic asks h1 about records 11 and 12 (ConsultationQueries.get's shape)."""
    row = {
        "consultation_id": 9,
        "patient": PATIENT,
        "requester": CLINIC,
        "consultant": H1,
        "record_ids": [11, 12],
        "consent_id": 3,
        "status": 1,
        "question_hash": TX,
        "expires_at": NOW + 500,
        "report_record_id": 0,
        "block_number": 5,
        "tx_hash": TX,
        "timestamp": NOW - 90,
    }
    return {**row, **over}


def step(name: str, by: str, at: int) -> dict[str, Any]:
    return {
        "id": at,
        "consultation_id": 9,
        "step": name,
        "by": by,
        "note_hash": TX,
        "block_number": 5,
        "log_index": 0,
        "timestamp": at,
    }

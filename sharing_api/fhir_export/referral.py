"""A referral on chain (ReferralRegistry) as ServiceRequest + Task (request_task.py).

Lifecycle -> R4 codes (the local state is kept in Task.businessStatus):

| chain state | Task.status | ServiceRequest.status |
|---|---|---|
| created | requested | active |
| accepted | accepted | active |
| rejected | rejected | revoked |
| completed | completed | completed |
| cancelled (by the referrer) | cancelled | revoked |
| withdrawn (by the patient) | cancelled | revoked |
| expired (created or accepted, past its expiry) | cancelled | revoked |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sharing_api.chain import Direction, ReferralStatus
from sharing_api.fhir_export.common import Names
from sharing_api.fhir_export.request_task import Lifecycle, request_bundle

SNOMED = "http://snomed.info/sct"
REFERRAL_CODE = {
    "coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}],
    "text": "referral",
}
DIRECTION_SYSTEM = "urn:alliance:referral-direction"

# chain state -> (Task.status, ServiceRequest.status, Task.statusReason)
STATES: dict[str, tuple[str, str, str]] = {
    "created": ("requested", "active", ""),
    "accepted": ("accepted", "active", ""),
    "rejected": ("rejected", "revoked", "rejected by the receiver"),
    "completed": ("completed", "completed", ""),
    "cancelled": ("cancelled", "revoked", "cancelled by the referrer"),
    "withdrawn": ("cancelled", "revoked", "withdrawn by the patient"),
    "expired": ("cancelled", "revoked", "expired before it was completed"),
}
OPEN = (ReferralStatus.CREATED, ReferralStatus.ACCEPTED)


def referral_state(row: dict[str, Any], now: int) -> str:
    status = ReferralStatus(int(row["status"]))
    if status in OPEN and int(row["expires_at"]) <= now:
        return "expired"
    return status.name.lower()


def referral_lifecycle(
    row: dict[str, Any], changes: Sequence[dict[str, Any]], now: int
) -> Lifecycle:
    """The index's referral row and its status changes (referral_history) as a Lifecycle."""
    state = referral_state(row, now)
    task_status, request_status, reason = STATES[state]
    last = max([int(row["timestamp"]), *(int(c["timestamp"]) for c in changes)])
    if state == "expired":
        last = max(last, int(row["expires_at"]))
    direction = Direction(int(row["direction"])).name.lower()
    return Lifecycle(
        kind="referral",
        request_id=int(row["referral_id"]),
        patient=str(row["patient"]),
        requester=str(row["referrer"]),
        owner=str(row["receiver"]),
        state=state,
        task_status=task_status,
        request_status=request_status,
        authored_on=int(row["timestamp"]),
        last_modified=last,
        expires_at=int(row["expires_at"]),
        code=REFERRAL_CODE,
        category=[{"coding": [{"system": DIRECTION_SYSTEM, "code": direction}]}],
        record_ids=tuple(int(r) for r in row["record_ids"]),
        consent_id=int(row["consent_id"]),
        status_reason=reason,
    )


def referral_bundle(
    row: dict[str, Any], changes: Sequence[dict[str, Any]], now: int, names: Names | None = None
) -> dict[str, Any]:
    """A validated Bundle of the referral's ServiceRequest and Task."""
    return request_bundle(referral_lifecycle(row, changes, now), now, names)

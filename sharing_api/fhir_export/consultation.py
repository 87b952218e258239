"""A remote consultation on chain (ConsultationRegistry) as ServiceRequest + Task
(request_task.py): the requester asks (ServiceRequest.requester, Task.requester), the
consultant acts (ServiceRequest.performer, Task.owner), the named records are what to read
(ServiceRequest.supportingInfo, Task.input), and the report's record is what came back
(Task.output).

Lifecycle -> R4 codes (the local state is kept in Task.businessStatus):

| chain state | Task.status | ServiceRequest.status |
|---|---|---|
| requested | requested | active |
| accepted | accepted | active |
| declined (by the consultant) | rejected | revoked |
| reported | completed | active |
| closed (by the requester) | completed | completed |
| cancelled (by the requester) | cancelled | revoked |
| expired (requested or accepted, past its expiry) | cancelled | revoked |

Reported: the consultant's Task is done, but the request stays active until the requester
closes it (the consultant may read the named records until then, before the expiry). A
reported consultation past its expiry stays reported: the report was given in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sharing_api.chain import ConsultationStatus
from sharing_api.fhir_export.common import Names
from sharing_api.fhir_export.request_task import Lifecycle, request_bundle

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
# SNOMED CT 11429006 |Consultation (procedure)|: the service asked of the consultant.
CONSULTATION_CODE = {
    "coding": [{"system": SNOMED, "code": "11429006", "display": "Consultation"}],
    "text": "consultation",
}
# LOINC 11488-4 "Consult note": the kind of document the report's record holds.
REPORT_TYPE = {
    "coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}],
    "text": "consultation report",
}

# chain state -> (Task.status, ServiceRequest.status, Task.statusReason)
STATES: dict[str, tuple[str, str, str]] = {
    "requested": ("requested", "active", ""),
    "accepted": ("accepted", "active", ""),
    "declined": ("rejected", "revoked", "declined by the consultant"),
    "reported": ("completed", "active", ""),
    "closed": ("completed", "completed", ""),
    "cancelled": ("cancelled", "revoked", "cancelled by the requester"),
    "expired": ("cancelled", "revoked", "expired before it was reported"),
}
OPEN = (ConsultationStatus.REQUESTED, ConsultationStatus.ACCEPTED)


def consultation_state(row: dict[str, Any], now: int) -> str:
    status = ConsultationStatus(int(row["status"]))
    if status in OPEN and int(row["expires_at"]) <= now:
        return "expired"
    return status.label


def consultation_lifecycle(
    row: dict[str, Any], steps: Sequence[dict[str, Any]], now: int
) -> Lifecycle:
    """The index's consultation row and its steps (consultation_steps) as a Lifecycle."""
    state = consultation_state(row, now)
    task_status, request_status, reason = STATES[state]
    last = max([int(row["timestamp"]), *(int(s["timestamp"]) for s in steps)])
    if state == "expired":
        last = max(last, int(row["expires_at"]))
    report = int(row.get("report_record_id") or 0)
    return Lifecycle(
        kind="consultation",
        request_id=int(row["consultation_id"]),
        patient=str(row["patient"]),
        requester=str(row["requester"]),
        owner=str(row["consultant"]),
        state=state,
        task_status=task_status,
        request_status=request_status,
        authored_on=int(row["timestamp"]),
        last_modified=last,
        expires_at=int(row["expires_at"]),
        code=CONSULTATION_CODE,
        record_ids=tuple(int(r) for r in row["record_ids"]),
        consent_id=int(row["consent_id"]),
        status_reason=reason,
        input_text="record to consult on",
        outputs=((REPORT_TYPE, report),) if report else (),
    )


def consultation_bundle(
    row: dict[str, Any], steps: Sequence[dict[str, Any]], now: int, names: Names | None = None
) -> dict[str, Any]:
    """A validated Bundle of the consultation's ServiceRequest and Task."""
    return request_bundle(consultation_lifecycle(row, steps, now), now, names)

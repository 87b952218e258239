"""A request between members as ServiceRequest + Task, the pattern HL7 and IHE referral
guides use: the ServiceRequest says what is asked (of whom, for which patient, with which
records), the Task tracks its fulfilment (``Task.focus`` -> the ServiceRequest,
``Task.status`` from the chain's lifecycle, requester and owner as members).

Generic over the kind of request: a referral (referral.py) and a remote consultation
(consultation.py), each mapping its own lifecycle onto a ``Lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from sharing_api.fhir import validate_resource
from sharing_api.fhir_export.common import (
    Names,
    consent_ref,
    iso,
    member_ref,
    patient_ref,
    record_ref,
)

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"


@dataclass(frozen=True)
class Lifecycle:
    """One request's facts, as the chain holds them."""

    kind: str  # "referral" | "consultation": names ids and the local status system
    request_id: int
    patient: str
    requester: str  # member address
    owner: str  # member address asked to act
    state: str  # the local lifecycle state: created, accepted, ..., expired
    task_status: str  # R4 Task.status for it
    request_status: str  # R4 ServiceRequest.status for it
    authored_on: int  # block time it was created
    last_modified: int  # block time of its last change
    expires_at: int
    code: dict[str, Any]  # ServiceRequest.code
    category: list[dict[str, Any]] = field(default_factory=list)
    record_ids: tuple[int, ...] = ()
    consent_id: int = 0  # 0: the patient signed the request itself
    status_reason: str = ""
    input_text: str = "record handed over"  # Task.input.type of each named record
    # What the owner produced: (Task.output.type, record id), e.g. a consultation's report.
    outputs: tuple[tuple[dict[str, Any], int], ...] = ()


def _ids(life: Lifecycle) -> tuple[str, str, str]:
    system = f"urn:alliance:{life.kind}"
    return f"{life.kind}-{life.request_id}", system, str(life.request_id)


def service_request(life: Lifecycle, names: Names | None = None) -> dict[str, Any]:
    rid, system, value = _ids(life)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "identifier": [{"system": system, "value": value}],
        "status": life.request_status,
        "intent": "order",
        "code": life.code,
        "subject": patient_ref(life.patient),
        "authoredOn": iso(life.authored_on),
        "requester": member_ref(life.requester, names),
        "performer": [member_ref(life.owner, names)],
        "occurrencePeriod": {"start": iso(life.authored_on), "end": iso(life.expires_at)},
    }
    if life.category:
        resource["category"] = life.category
    info = [record_ref(r) for r in life.record_ids]
    if life.consent_id:
        info.append(consent_ref(life.consent_id))
    if info:
        resource["supportingInfo"] = info
    return resource


def task(life: Lifecycle, names: Names | None = None) -> dict[str, Any]:
    rid, system, value = _ids(life)
    focus = {"reference": f"ServiceRequest/{rid}"}
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": rid,
        "identifier": [{"system": system, "value": value}],
        "basedOn": [focus],
        "status": life.task_status,
        "businessStatus": {
            "coding": [{"system": f"{system}-status", "code": life.state}],
            "text": life.state,
        },
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": focus,
        "for": patient_ref(life.patient),
        "authoredOn": iso(life.authored_on),
        "lastModified": iso(life.last_modified),
        "requester": member_ref(life.requester, names),
        "owner": member_ref(life.owner, names),
        "restriction": {"period": {"end": iso(life.expires_at)}},
    }
    if life.status_reason:
        resource["statusReason"] = {"text": life.status_reason}
    if life.record_ids:
        resource["input"] = [
            {"type": {"text": life.input_text}, "valueReference": record_ref(r)}
            for r in life.record_ids
        ]
    if life.outputs:
        resource["output"] = [
            {"type": kind, "valueReference": record_ref(r)} for kind, r in life.outputs
        ]
    return resource


def request_bundle(life: Lifecycle, now: int, names: Names | None = None) -> dict[str, Any]:
    """The ServiceRequest and its Task in one validated Bundle (type collection). Entries
    are named by stable ``urn:uuid`` URIs (one per request id and role), and the Task points
    at its ServiceRequest by that URI, so the reference resolves inside the Bundle."""
    request_url, task_url = (
        f"urn:uuid:{uuid5(NAMESPACE_URL, f'alliance:{life.kind}:{life.request_id}:{role}')}"
        for role in ("request", "task")
    )
    in_bundle = task(life, names)
    in_bundle["focus"] = {"reference": request_url}
    in_bundle["basedOn"] = [{"reference": request_url}]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso(now),
        "entry": [
            {"fullUrl": request_url, "resource": service_request(life, names)},
            {"fullUrl": task_url, "resource": in_bundle},
        ],
    }
    return validate_resource(bundle)

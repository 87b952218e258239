"""What the break-glass threat tests share: a record of the cast's patient, held by the
clinic, that no consent lets h1 or h3 read (only break-glass)."""

from __future__ import annotations

import json

from sharing_api.fhir import chest_pain_bundle
from tests.api.conftest import Cast

POLICY = "(h1.role:doctor and h1.dept:cardiology) or c1.role:doctor"


def unconsented_record(cast: Cast) -> int:
    patient = cast.patient_key.address
    bundle = json.dumps(chest_pain_bundle(patient, "c1")).encode()
    record = cast.clinic_doctor.upload(patient, "summary", POLICY, cast.sealed(bundle, POLICY))
    return int(record["record_id"])

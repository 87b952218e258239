"""A labelled record's FHIR document carries its labels in ``meta.security`` (DS4P), set by
the SDK from the labels sealed in its header (sharing_api/fhir.py with_security_labels)."""

from __future__ import annotations

import json
from typing import Any

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch
from crypto.labels import CONFIDENTIALITY_SYSTEM, SENSITIVITY_SYSTEM, SecurityLabels
from sharing_api.fhir import blood_pressure_observation, with_security_labels
from sharing_api.sdk import SharingClient

PURPOSE = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}


def _observation() -> dict[str, Any]:
    return blood_pressure_observation("0x" + "ab" * 20, 128, 82, "2026-11-20")


def test_labels_replace_the_documents_own_and_keep_other_security_codings() -> None:
    doc = _observation()
    stale = {"system": CONFIDENTIALITY_SYSTEM, "code": "N"}
    doc["meta"] = {"security": [PURPOSE, stale], "versionId": "1"}
    out = with_security_labels(doc, SecurityLabels.of("V", ["ETH"]))
    security = out["meta"]["security"]
    assert security[0] == PURPOSE and stale not in security
    assert [(c["system"], c["code"]) for c in security[1:]] == [
        (CONFIDENTIALITY_SYSTEM, "V"),
        (SENSITIVITY_SYSTEM, "ETH"),
    ]
    assert out["meta"]["versionId"] == "1" and "meta" in doc and doc["meta"]["security"][1] == stale


def test_seal_fhir_writes_the_labels_into_the_sealed_document() -> None:
    authority = AttributeAuthority.setup("h1")
    key = authority.issue_key(["role:doctor"], current_epoch() + 30, "dr")
    labels = SecurityLabels.of("R", ["PSY"])
    params = [authority.params()]
    sealed = SharingClient.seal_fhir(_observation(), "h1.role:doctor", params, labels=labels)
    opened = json.loads(SharingClient.open(sealed, key))
    assert [c["code"] for c in opened["meta"]["security"]] == ["R", "PSY"]
    plain = SharingClient.seal_fhir(_observation(), "h1.role:doctor", params)
    assert "meta" not in json.loads(SharingClient.open(plain, key))  # unlabelled: untouched

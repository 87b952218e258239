"""Where R4B (what fhir.resources validates) and R4 4.0.1 differ for what we take and
export: the guard refuses what only R4B allows, and the shape check catches elements R4
does not have."""

from __future__ import annotations

import pytest

from sharing_api.fhir import FhirError, validate_resource
from tests.fhir_export.r4_shape import r4_shape_problems

TOPIC = {"resourceType": "SubscriptionTopic", "url": "http://example.org/t", "status": "active"}


def test_r4b_only_resources_are_refused_even_inside_a_bundle() -> None:
    with pytest.raises(FhirError, match="SubscriptionTopic is not an R4"):
        validate_resource(TOPIC)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": TOPIC}]}
    with pytest.raises(FhirError, match=r"entry\[0\]\.resource: SubscriptionTopic"):
        validate_resource(bundle)


def test_resources_r4b_rewrote_are_not_judged_as_r4() -> None:
    with pytest.raises(FhirError, match="Evidence differs between R4 and R4B"):
        validate_resource({"resourceType": "Evidence", "status": "active"})


def test_r4b_only_datatypes_are_refused() -> None:
    ext = {"url": "http://example.org/x", "valueCodeableReference": {"concept": {"text": "x"}}}
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "bp"},
        "extension": [ext],
    }
    with pytest.raises(FhirError, match="CodeableReference datatype is R4B only"):
        validate_resource(obs)


def test_plain_r4_passes() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"}}
    assert validate_resource(obs) == obs


def test_the_shape_check_catches_what_r4_lacks() -> None:
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "focus": [{"reference": "ServiceRequest/x"}],  # 0..1 in R4
        "for": {"reference": "Patient/p", "concept": {"text": "x"}},  # no Reference.concept
        "performerType": {"text": "x"},  # Task.performerType is a list
    }
    problems = r4_shape_problems(task)
    assert any(p.startswith("Task.focus: cardinality") for p in problems)
    assert "Reference.concept: not an R4 element" in problems  # Task.for is a Reference
    assert any(p.startswith("Task.performerType") for p in problems)

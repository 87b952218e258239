"""Check a resource's shape against FHIR R4 4.0.1 itself, not the R4B models: every element
must exist in R4 with the right cardinality (list or not) and type (``r4_elements.json``:
the R4 StructureDefinitions of the resources we export and the datatypes they use)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC = json.loads((Path(__file__).with_name("r4_elements.json")).read_text())
ELEMENTS: dict[str, dict[str, Any]] = SPEC["elements"]
COMPLEX = {"Reference", "Identifier", "Coding", "CodeableConcept", "Period", "Meta"}
PRIMITIVE: dict[str, type | tuple[type, ...]] = {
    "boolean": bool,
    "integer": int,
    "unsignedInt": int,
    "positiveInt": int,
    "decimal": (int, float),
}


def _element(path: str, key: str) -> tuple[dict[str, Any], str] | None:
    """The R4 element ``path.key`` and its type (a choice like valueString resolved)."""
    found = ELEMENTS.get(f"{path}.{key}")
    if found is not None:
        return found, found["types"][0] if len(found["types"]) == 1 else ""
    for cut in range(1, len(key)):
        choice = ELEMENTS.get(f"{path}.{key[:cut]}[x]")
        if choice is None:
            continue
        for t in choice["types"]:
            if t[0].upper() + t[1:] == key[cut:]:
                return choice, t
    return None


def r4_shape_problems(resource: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _walk(resource, str(resource["resourceType"]), problems)
    return problems


def _walk(node: dict[str, Any], path: str, problems: list[str]) -> None:
    for key, value in node.items():
        if key in ("resourceType", "id"):
            continue
        found = _element(path, key)
        if found is None:
            problems.append(f"{path}.{key}: not an R4 element")
            continue
        element, kind = found
        many = element["max"] != "1"
        if many != isinstance(value, list):
            problems.append(f"{path}.{key}: cardinality {element['max']} but got {value!r:.40}")
            continue
        for item in value if isinstance(value, list) else [value]:
            _check(item, f"{path}.{key}", kind, problems)


def _check(item: Any, path: str, kind: str, problems: list[str]) -> None:
    if kind in ("BackboneElement", "Element"):
        _walk(item, path, problems)
    elif kind.startswith("#"):
        _walk(item, kind[1:], problems)
    elif kind in COMPLEX:
        _walk(item, kind, problems)
    elif kind == "Resource":
        problems.extend(r4_shape_problems(item))
    elif kind in PRIMITIVE:
        if not isinstance(item, PRIMITIVE[kind]) or isinstance(item, bool) != (kind == "boolean"):
            problems.append(f"{path}: {kind} expected, got {item!r:.40}")
    elif kind == "" or kind[0].islower():  # string-like primitives
        if not isinstance(item, str) or not item:
            problems.append(f"{path}: a non-empty string expected, got {item!r:.40}")
    else:
        problems.append(f"{path}: type {kind} is not covered by r4_elements.json")

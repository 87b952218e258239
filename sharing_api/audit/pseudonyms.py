"""Audit views over pairwise pseudonyms: what is still under a shared (pre-pseudonym)
address, and one disclosed patient's records and accesses. Pure functions over rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any

Row = dict[str, Any]


def shared_addresses(records: Iterable[Row]) -> set[str]:
    """Patient addresses with records at two or more custodians: made before pairwise
    pseudonyms (each pseudonym is one custodian's), so they still link care across members."""
    custodians: dict[str, set[str]] = defaultdict(set)
    for r in records:
        custodians[str(r["patient"]).lower()].add(str(r["custodian"]).lower())
    return {p for p, cs in custodians.items() if len(cs) >= 2}


def records_under_shared_addresses(records: Sequence[Row]) -> int:
    """How many records the migration still has to move to pseudonyms."""
    shared = shared_addresses(records)
    return sum(1 for r in records if str(r["patient"]).lower() in shared)


def of_patient(rows: Iterable[Row], addresses: Collection[str]) -> list[Row]:
    """The rows (records or accesses) under any of one patient's disclosed addresses."""
    wanted = {a.lower() for a in addresses}
    return [r for r in rows if str(r["patient"]).lower() in wanted]

"""Gather the BALP AuditEvents (audit_event.py) a caller may see from the index, in time
order, and write them as a Bundle or as NDJSON (one event per line).

Who sees what (the same rules as the consent, referral, consultation and audit routes):
- the regulator: every access, consent decision, referral and consultation step (optionally
  one patient);
- a patient: those about their own addresses (primary and proven pseudonyms);
- a member (and its staff): its own reads, the consents granted to it (by address or by a
  role it holds), and the referrals and consultations it is a party to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sharing_api.fhir import validate_resource
from sharing_api.fhir_export.audit_event import (
    access_event,
    consent_events,
    consultation_step_events,
    referral_step_event,
)
from sharing_api.fhir_export.common import Names, iso
from sharing_api.index.audit_queries import custodians
from sharing_api.index.consultations import ConsultationQueries
from sharing_api.index.db import IndexDB

KINDS = ("access", "consent", "referral", "consultation")


@dataclass(frozen=True)
class Scope:
    """What one caller may see; all None: everything (the regulator)."""

    patients: str | Sequence[str] | None = None
    member: str | None = None
    member_roles: int = 0


def _order(event: dict[str, Any]) -> tuple[str, str]:
    return (event["recorded"], event["id"])


@dataclass(frozen=True)
class AuditPage:
    events: list[dict[str, Any]]  # oldest first
    # Per kind whose page was full: continue after this id (an access, a consent, or a
    # referral's or consultation's id). None: this was the last page.
    next_after: dict[str, int] | None


def audit_events(
    db: IndexDB,
    scope: Scope,
    *,
    kinds: Iterable[str] = KINDS,
    names: Names | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The events in ``scope``, oldest first (``limit`` rows of each kind at most)."""
    return audit_page(db, scope, kinds=kinds, names=names, limit=limit).events


def audit_page(
    db: IndexDB,
    scope: Scope,
    *,
    kinds: Iterable[str] = KINDS,
    names: Names | None = None,
    limit: int | None = None,
    after: dict[str, int] | None = None,
) -> AuditPage:
    """One page: up to ``limit`` rows of each kind (a referral or consultation with all its
    steps), each kind after its id in ``after``; with ``after``, only the kinds it names
    (the others were exhausted on an earlier page)."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(
            f"unknown event kind {sorted(unknown)[0]!r} (choose from {', '.join(KINDS)})"
        )
    if after is not None:
        wanted &= set(after)
    start = after or {}
    member = scope.member.lower() if scope.member else None
    events: list[dict[str, Any]] = []
    last: dict[str, int] = {}  # the last id of each kind that has more
    probe = None if limit is None else limit + 1  # one more than a page: is there more?

    def paged(kind: str, rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            last[kind] = int(rows[-1][key])
        return rows

    if "access" in wanted:
        rows = db.accesses(
            patient=scope.patients, reader=member, limit=probe, after=start.get("access")
        )
        rows = paged("access", rows, "access_id")
        held_by = custodians(db, [int(r["record_id"]) for r in rows])
        events += [access_event(r, held_by.get(int(r["record_id"])), names) for r in rows]
    if "consent" in wanted:
        consents = db.consents(
            patient=scope.patients,
            grantee=member,
            grantee_roles=scope.member_roles,
            limit=probe,
            after=start.get("consent"),
        )
        for row in paged("consent", consents, "consent_id"):
            events += consent_events(row, names)
    if "referral" in wanted:
        refs = db.referrals(
            patient=scope.patients, party=member, limit=probe, after=start.get("referral")
        )
        refs = paged("referral", refs, "referral_id")
        histories = db.referral_histories([int(r["referral_id"]) for r in refs])
        for ref in refs:
            changes = histories.get(int(ref["referral_id"]), [])
            events += [referral_step_event(ref, c, names) for c in changes]
    if "consultation" in wanted:
        queries = ConsultationQueries(db.engine)
        rows = queries.listing(
            patient=scope.patients, party=member, limit=probe, after=start.get("consultation")
        )
        rows = paged("consultation", rows, "consultation_id")
        steps = queries.steps_of([int(r["consultation_id"]) for r in rows])
        for row in rows:
            events += consultation_step_events(
                row, steps.get(int(row["consultation_id"]), []), names
            )
    return AuditPage(sorted(events, key=_order), last or None)


def audit_bundle_of(
    events: list[dict[str, Any]], now: int, next_url: str | None = None
) -> dict[str, Any]:
    """A validated Bundle (type collection) of AuditEvents; ``next_url``: the next page's."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso(now),
        "entry": [
            {"fullUrl": f"urn:alliance:audit-event:{e['id']}", "resource": e} for e in events
        ],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return validate_resource(bundle)


def write_ndjson(events: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """FHIR bulk-data style: one resource per line; returns how many."""
    n = 0
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def audit_bundle(
    rows: Iterable[dict[str, Any]],
    now: int,
    held_by: dict[int, str] | None = None,
    names: Names | None = None,
) -> dict[str, Any]:
    """Access rows (index shape) as a Bundle of BALP PrivacyDisclosure events: the console's
    and the report's export of the accesses they list. ``held_by``: record id -> custodian."""
    found = held_by or {}
    events = [access_event(r, found.get(int(r["record_id"])), names) for r in rows]
    return audit_bundle_of(events, now)

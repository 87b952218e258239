"""Anomaly rules: pure functions over plain event records, so each one is unit-testable.

The contracts already refuse an access without a live basis; these rules re-check the
recorded history independently (a compromised or buggy contract, a replayed deployment, an
index that disagrees), and add the judgements the chain cannot make: late break-glass
justification and unusual access volume. Order is chain order: ``(block, log_index)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sharing_api.chain.coverage import (
    ConsentTerms,
    ReferralTerms,
    consent_problem,
    referral_problem,
)
from sharing_api.chain.scopes import Basis, Purpose, ReferralStatus

ZERO = "0x" + "0" * 40
Pos = tuple[int, int]  # (block number, log index): where an event sits in chain order


@dataclass(frozen=True)
class Consent:
    consent_id: int
    patient: str
    grantee: str  # ZERO when granted to a role
    grantee_role: int
    categories: int  # bit mask of Category
    purposes: int  # bit mask of Purpose
    valid_from: int
    valid_until: int
    pos: Pos


@dataclass(frozen=True)
class Revocation:
    consent_id: int
    pos: Pos
    timestamp: int


@dataclass(frozen=True)
class Referral:
    referral_id: int
    patient: str
    referrer: str
    receiver: str
    record_ids: tuple[int, ...]
    pos: Pos
    closed: Pos | None = None  # rejected, completed, cancelled or withdrawn at this point
    accepted: Pos | None = None  # access through it starts here
    expires_at: int | None = None  # None: a referral from before referrals expired
    consent_id: int = 0  # the consent it rests on (0: the patient signed it)
    closed_status: ReferralStatus = ReferralStatus.CANCELLED  # the status it closed to

    def status_at(self, pos: Pos) -> ReferralStatus:
        if self.closed is not None and self.closed < pos:
            return self.closed_status
        if self.accepted is not None and self.accepted < pos:
            return ReferralStatus.ACCEPTED
        return ReferralStatus.CREATED


@dataclass(frozen=True)
class Access:
    access_id: int
    record_id: int
    patient: str
    reader: str
    purpose: int
    basis: int
    basis_id: int
    pos: Pos
    timestamp: int
    category: int | None = None  # the record's category, when known
    custodian: str | None = None  # the record's custodian, when known
    reader_roles: int | None = None  # the reader's role mask then, when known


@dataclass(frozen=True)
class Justification:
    access_id: int
    pos: Pos
    timestamp: int


@dataclass(frozen=True)
class History:
    consents: tuple[Consent, ...] = ()
    revocations: tuple[Revocation, ...] = ()
    referrals: tuple[Referral, ...] = ()
    accesses: tuple[Access, ...] = ()
    justifications: tuple[Justification, ...] = ()


@dataclass(frozen=True)
class Anomaly:
    rule: str
    access_id: int | None
    reader: str
    detail: str
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    justify_within_s: int = 24 * 3600
    max_accesses_per_day: int = 50


def _consent_problem(a: Access, c: Consent | None) -> str | None:
    if c is None or c.pos > a.pos:
        return f"consent {a.basis_id} does not exist at the time of access"
    # Revocation is `after_revocation`'s finding: judged here as not revoked.
    problem = consent_problem(
        _terms(c, revoked=False),
        patient=a.patient,
        reader=a.reader,
        reader_roles=a.reader_roles,
        category=a.category,
        purpose=a.purpose,
        now=a.timestamp,
    )
    return None if problem is None else f"consent {a.basis_id} {problem}"


def _terms(c: Consent, *, revoked: bool) -> ConsentTerms:
    return ConsentTerms(
        c.patient,
        c.grantee,
        c.grantee_role,
        c.categories,
        c.purposes,
        c.valid_from,
        c.valid_until,
        revoked,
    )


def _referral_problem(
    a: Access,
    r: Referral | None,
    consents: dict[int, Consent],
    revoked_at: dict[int, Pos],
) -> str | None:
    if r is None or r.pos > a.pos:
        return f"referral {a.basis_id} does not exist at the time of access"
    backing = consents.get(r.consent_id) if r.consent_id else None
    if backing is not None and backing.pos > a.pos:
        backing = None
    revoked = r.consent_id in revoked_at and revoked_at[r.consent_id] < a.pos
    problem = referral_problem(
        ReferralTerms(
            r.patient,
            r.receiver,
            r.record_ids,
            r.status_at(a.pos),
            r.expires_at if r.expires_at is not None else 1 << 63,
            r.consent_id,
        ),
        patient=a.patient,
        reader=a.reader,
        record_id=a.record_id,
        now=a.timestamp,
        consent=None if backing is None else _terms(backing, revoked=revoked),
        reader_roles=a.reader_roles,
    )
    return None if problem is None else f"referral {a.basis_id} {problem}"


def _custodian_problem(a: Access) -> str | None:
    if a.custodian is None:
        return f"custodian basis, but the custodian of record {a.record_id} is unknown"
    if a.custodian.lower() != a.reader.lower():
        return f"custodian basis, but record {a.record_id} is held by {a.custodian}"
    return None


def no_live_basis(h: History) -> list[Anomaly]:
    """Accesses whose consent or referral did not cover them when they happened, or that
    claim the custodian basis for a reader who is not the record's custodian.
    (A consent revoked before the access is left to ``after_revocation``; a referral whose
    consent was revoked before the access is found here.)"""
    consents = {c.consent_id: c for c in h.consents}
    referrals = {r.referral_id: r for r in h.referrals}
    revoked_at: dict[int, Pos] = {}
    for rev in h.revocations:
        revoked_at[rev.consent_id] = min(rev.pos, revoked_at.get(rev.consent_id, rev.pos))
    found = []
    for a in h.accesses:
        if a.basis == Basis.CONSENT:
            problem = _consent_problem(a, consents.get(a.basis_id))
        elif a.basis == Basis.REFERRAL:
            problem = _referral_problem(a, referrals.get(a.basis_id), consents, revoked_at)
        elif a.basis == Basis.BREAK_GLASS:
            problem = None  # judged by `unjustified_break_glass`
        elif a.basis == Basis.CUSTODIAN:
            problem = _custodian_problem(a)
        elif a.basis == Basis.CONSULTATION:
            # Coverage (consultant, named record, open, unexpired, live consent) is
            # ConsultationRegistry's check when the access is logged; the history carries no
            # consultations yet, so only the purpose is judged again here.
            ok = a.purpose in (int(Purpose.CONSULTATION), int(Purpose.TREATMENT))
            problem = None if ok else f"consultation basis for purpose {a.purpose}"
        else:
            problem = f"unknown basis {a.basis}"
        if problem is not None:
            found.append(Anomaly("no-live-basis", a.access_id, a.reader, problem))
    return found


def after_revocation(h: History) -> list[Anomaly]:
    """Accesses on a consent basis logged after that consent was revoked."""
    revoked: dict[int, Revocation] = {}
    for rev in h.revocations:
        if rev.consent_id not in revoked or rev.pos < revoked[rev.consent_id].pos:
            revoked[rev.consent_id] = rev
    found = []
    for a in h.accesses:
        r = revoked.get(a.basis_id) if a.basis == Basis.CONSENT else None
        if r is not None and r.pos < a.pos:
            found.append(
                Anomaly(
                    "after-revocation",
                    a.access_id,
                    a.reader,
                    f"consent {a.basis_id} was revoked {a.timestamp - r.timestamp} s earlier",
                )
            )
    return found


def unjustified_break_glass(h: History, within_s: int, now: int) -> list[Anomaly]:
    """Break-glass accesses with no justification within ``within_s`` seconds (late ones are
    reported too; ones still inside their window at ``now`` are not yet anomalies)."""
    first: dict[int, Justification] = {}
    for just in sorted(h.justifications, key=lambda j: j.pos):
        first.setdefault(just.access_id, just)
    found = []
    for a in h.accesses:
        if a.basis != Basis.BREAK_GLASS:
            continue
        j = first.get(a.access_id)
        if j is None and now - a.timestamp > within_s:
            detail = f"not justified after {now - a.timestamp} s (allowed {within_s} s)"
        elif j is not None and j.timestamp - a.timestamp > within_s:
            detail = f"justified late: after {j.timestamp - a.timestamp} s (allowed {within_s} s)"
        else:
            continue
        found.append(Anomaly("unjustified-break-glass", a.access_id, a.reader, detail))
    return found


def day_of(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def unusual_volume(h: History, max_per_day: int) -> list[Anomaly]:
    """Readers with more than ``max_per_day`` accesses on one UTC day (one finding per
    reader and day)."""
    counts = Counter((a.reader.lower(), day_of(a.timestamp)) for a in h.accesses)
    return [
        Anomaly(
            "unusual-volume",
            None,
            reader,
            f"{n} accesses on {day} (threshold {max_per_day})",
            {"count": n},
        )
        for (reader, day), n in sorted(counts.items())
        if n > max_per_day
    ]


def find_anomalies(h: History, t: Thresholds, now: int) -> list[Anomaly]:
    return [
        *no_live_basis(h),
        *after_revocation(h),
        *unjustified_break_glass(h, t.justify_within_s, now),
        *unusual_volume(h, t.max_accesses_per_day),
    ]

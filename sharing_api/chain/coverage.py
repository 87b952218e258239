"""When a consent or a referral covers an access: the contracts' rules, off chain, in one place.

``ConsentRegistry.permits`` and ``ReferralRegistry.coversAccess`` decide on chain. Off chain
the same rules are needed by the chain wrapper (``ConsentInfo.covers``), the API's listing
of readable records (``api/access.readable_by``) and the auditor re-checking history
(``audit/rules.no_live_basis``); all of them call these functions, so the rules cannot drift
apart. Pure: plain values in, a phrase out (why the access is not covered) or None.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sharing_api.chain.scopes import ReferralStatus, Role

ZERO_ADDRESS = "0x" + "0" * 40
CARE_PROVIDER = int(Role.HOSPITAL | Role.CLINIC)


@dataclass(frozen=True)
class ConsentTerms:
    """A consent as the chain keeps it. ``grantee`` is ZERO_ADDRESS for a role grant."""

    patient: str
    grantee: str
    grantee_role: int
    categories: int  # bit mask of Category
    purposes: int  # bit mask of Purpose
    valid_from: int
    valid_until: int
    revoked: bool = False

    def live_at(self, now: int) -> bool:
        """Not revoked and inside its window: ``ConsentRegistry.liveUntil(id) > now``."""
        return not self.revoked and self.valid_from <= now < self.valid_until

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ConsentTerms:
        """From an index row (sharing_api.index.schema.consents)."""
        return cls(
            str(row["patient"]),
            str(row["grantee"]),
            int(row["grantee_role"]),
            int(row["categories"]),
            int(row["purposes"]),
            int(row["valid_from"]),
            int(row["valid_until"]),
            bool(row["revoked"]),
        )


@dataclass(frozen=True)
class ReferralTerms:
    """A referral as the chain keeps it, with its status at the moment judged."""

    patient: str
    receiver: str
    record_ids: Collection[int]
    status: ReferralStatus
    expires_at: int
    consent_id: int = 0  # 0: the patient signed the referral itself

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ReferralTerms:
        """From an index row (sharing_api.index.schema.referrals, record_ids decoded)."""
        return cls(
            str(row["patient"]),
            str(row["receiver"]),
            frozenset(int(i) for i in row["record_ids"]),
            ReferralStatus(int(row["status"])),
            int(row["expires_at"]),
            int(row["consent_id"]),
        )


def consent_problem(
    c: ConsentTerms,
    *,
    patient: str,
    reader: str,
    reader_roles: int | None,
    category: int | None,
    purpose: int | None,
    now: int,
) -> str | None:
    """Why consent ``c`` does not let ``reader`` access ``patient``'s record of ``category``
    for ``purpose`` at ``now``; None if it does (``ConsentRegistry.permits``).

    ``reader_roles`` is the reader's role mask (0: not a member); None when the caller cannot
    know it, and then a role grant is not judged on it. ``category`` or ``purpose`` None:
    any (a listing asks whether some access is possible).
    """
    if c.patient.lower() != patient.lower():
        return "is for another patient"
    if c.revoked:
        return "is revoked"
    if not c.valid_from <= now < c.valid_until:
        return f"is not valid at {now}"
    if purpose is not None and not (0 <= purpose < 8 and c.purposes >> purpose & 1):
        return f"does not cover purpose {purpose}"
    if category is not None and not (0 <= category < 16 and c.categories >> category & 1):
        return f"does not cover category {category}"
    if c.grantee.lower() != ZERO_ADDRESS:
        if c.grantee.lower() != reader.lower():
            return f"was granted to {c.grantee}, not the reader"
        if reader_roles == 0:
            return "was granted to a reader who is no longer a member"
        return None
    if not c.grantee_role:
        return "names no grantee"
    if reader_roles is not None and not reader_roles & c.grantee_role:
        return f"was granted to role {c.grantee_role}, which the reader does not hold"
    return None


def referral_problem(
    r: ReferralTerms,
    *,
    patient: str,
    reader: str,
    record_id: int,
    now: int,
    consent: ConsentTerms | None,
    reader_roles: int | None = None,
) -> str | None:
    """Why referral ``r`` does not let ``reader`` access ``patient``'s record ``record_id`` at
    ``now``; None if it does (``ReferralRegistry.coversAccess``). ``consent``: the consent the
    referral was created on (None if it has none, or it is unknown)."""
    if r.status is not ReferralStatus.ACCEPTED:
        return f"is {r.status.name.lower()}, not accepted"
    if now >= r.expires_at:
        return f"expired at {r.expires_at}"
    if r.patient.lower() != patient.lower():
        return "is for another patient"
    if r.receiver.lower() != reader.lower():
        return f"hands records to {r.receiver}, not the reader"
    if record_id not in r.record_ids:
        return f"does not include record {record_id}"
    if reader_roles is not None and not reader_roles & CARE_PROVIDER:
        return "hands records to a member that is not a hospital or clinic"
    if r.consent_id:
        if consent is None:
            return f"rests on consent {r.consent_id}, which is unknown"
        if not consent.live_at(now):
            return f"rests on consent {r.consent_id}, which is revoked or over at {now}"
    return None

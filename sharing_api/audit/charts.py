"""Counts per UTC day for the regulator console's charts: pure functions over index-shaped
rows (``sharing_api.index.schema``), so each is unit-testable without a chain.

Member tiers follow the alliance's shape (SCENARIO): community and township clinics (1),
county hospitals (2), the tertiary hospital (3): from the member's role bits on chain (a
tertiary hospital holds HOSPITAL | TERTIARY); the regulator has no tier."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sharing_api.audit.rules import day_of
from sharing_api.chain import Basis, Direction, Role

Row = Mapping[str, Any]


def tier(roles: Role) -> int | None:
    """3 tertiary (HOSPITAL | TERTIARY on chain), 2 county (HOSPITAL), 1 township/community
    (CLINIC), None otherwise (the regulator)."""
    if Role.HOSPITAL in roles:
        return 3 if Role.TERTIARY in roles else 2
    if Role.CLINIC in roles:
        return 1
    return None


def tier_direction(from_tier: int | None, to_tier: int | None) -> str | None:
    """``up`` towards a higher tier, ``down`` towards a lower one, ``level`` between equals;
    None when a party has no tier."""
    if from_tier is None or to_tier is None:
        return None
    return "up" if to_tier > from_tier else "down" if to_tier < from_tier else "level"


def accesses_per_member_day(accesses: Iterable[Row]) -> list[tuple[str, str, int]]:
    """(reader, day, count), by day then reader."""
    counts = Counter((day_of(int(a["timestamp"])), str(a["reader"])) for a in accesses)
    return [(reader, day, n) for (day, reader), n in sorted(counts.items())]


def consents_per_day(
    consents: Iterable[Row], revoked_at: Callable[[int], int]
) -> list[tuple[str, int, int]]:
    """(day, granted, revoked); ``revoked_at(block)`` gives a revocation block's time (the
    index keeps the block, not the time)."""
    granted: Counter[str] = Counter()
    revoked: Counter[str] = Counter()
    for c in consents:
        granted[day_of(int(c["timestamp"]))] += 1
        if c["revoked"] and c["revoked_block"] is not None:
            revoked[day_of(revoked_at(int(c["revoked_block"])))] += 1
    days = sorted(set(granted) | set(revoked))
    return [(d, granted[d], revoked[d]) for d in days]


def referrals_per_day(referrals: Iterable[Row]) -> list[tuple[str, int, int]]:
    """(day, up, down) by the direction each referral declared on chain."""
    up: Counter[str] = Counter()
    down: Counter[str] = Counter()
    for r in referrals:
        day = day_of(int(r["timestamp"]))
        (up if int(r["direction"]) == Direction.UP else down)[day] += 1
    return [(d, up[d], down[d]) for d in sorted(set(up) | set(down))]


def break_glass_per_day(accesses: Iterable[Row]) -> list[tuple[str, int, int]]:
    """(day, break-glass accesses, of which still unjustified)."""
    total: Counter[str] = Counter()
    open_: Counter[str] = Counter()
    for a in accesses:
        if int(a["basis"]) != Basis.BREAK_GLASS:
            continue
        day = day_of(int(a["timestamp"]))
        total[day] += 1
        if not a["justified"]:
            open_[day] += 1
    return [(d, total[d], open_[d]) for d in sorted(total)]


def direction_mismatches(referrals: Iterable[Row], tiers: Mapping[str, int | None]) -> list[int]:
    """Referrals whose declared direction contradicts the members' tiers (an "up" referral
    to a lower tier, or a "down" one to a higher tier)."""
    found = []
    for r in referrals:
        by_tier = tier_direction(tiers.get(str(r["referrer"])), tiers.get(str(r["receiver"])))
        declared = "up" if int(r["direction"]) == Direction.UP else "down"
        if by_tier in ("up", "down") and by_tier != declared:
            found.append(int(r["referral_id"]))
    return found

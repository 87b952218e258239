"""The console's chart counts and member tiers (pure functions over index-shaped rows)."""

from __future__ import annotations

from typing import Any

from sharing_api.audit import charts
from sharing_api.chain import Basis, Direction, Role

DAY1 = 1_790_000_000  # 2026-09-21 UTC
DAY2 = DAY1 + 86_400


def access(reader: str, ts: int, basis: Basis = Basis.CONSENT, justified: bool = False) -> Any:
    return {"reader": reader, "timestamp": ts, "basis": int(basis), "justified": justified}


def test_tiers_from_roles_on_chain() -> None:
    hospital = Role.HOSPITAL | Role.ATTRIBUTE_AUTHORITY
    assert charts.tier(hospital | Role.TERTIARY) == 3
    assert charts.tier(hospital) == 2  # a name saying "tertiary" makes no tier
    assert charts.tier(Role.CLINIC) == 1
    assert charts.tier(Role.REGULATOR) is None
    assert charts.tier_direction(1, 3) == "up"
    assert charts.tier_direction(3, 2) == "down"
    assert charts.tier_direction(2, 2) == "level"
    assert charts.tier_direction(None, 2) is None


def test_accesses_and_break_glass_per_day() -> None:
    rows = [
        access("0xa", DAY1),
        access("0xa", DAY1 + 60),
        access("0xb", DAY1 + 120, Basis.BREAK_GLASS),
        access("0xa", DAY2, Basis.BREAK_GLASS, justified=True),
    ]
    assert charts.accesses_per_member_day(rows) == [
        ("0xa", "2026-09-21", 2),
        ("0xb", "2026-09-21", 1),
        ("0xa", "2026-09-22", 1),
    ]
    assert charts.break_glass_per_day(rows) == [("2026-09-21", 1, 1), ("2026-09-22", 1, 0)]
    assert charts.accesses_per_member_day([]) == []


def test_consents_granted_and_revoked_on_the_revocation_day() -> None:
    consents: list[dict[str, Any]] = [
        {"timestamp": DAY1, "revoked": True, "revoked_block": 7},
        {"timestamp": DAY1, "revoked": False, "revoked_block": None},
    ]
    times = {7: DAY2 + 5}
    assert charts.consents_per_day(consents, times.__getitem__) == [
        ("2026-09-21", 2, 0),
        ("2026-09-22", 0, 1),
    ]


def test_referrals_up_down_and_direction_mismatches() -> None:
    referrals = [
        {"referral_id": 1, "timestamp": DAY1, "direction": int(Direction.UP),
         "referrer": "0xclinic", "receiver": "0xtertiary"},
        {"referral_id": 2, "timestamp": DAY2, "direction": int(Direction.DOWN),
         "referrer": "0xtertiary", "receiver": "0xclinic"},
        {"referral_id": 3, "timestamp": DAY2, "direction": int(Direction.UP),
         "referrer": "0xtertiary", "receiver": "0xcounty"},
    ]  # fmt: skip
    assert charts.referrals_per_day(referrals) == [("2026-09-21", 1, 0), ("2026-09-22", 1, 1)]
    tiers = {"0xclinic": 1, "0xcounty": 2, "0xtertiary": 3}
    assert charts.direction_mismatches(referrals, tiers) == [3]  # "up" to a lower tier

"""Threat: POST /keys had no limit: one staff token could ask for keys without end, each a
key generation on the gateway and a row that the next revocation of anyone at the member
re-issued (a key generation each, again). Now keys are limited per person (429 +
Retry-After; a refused request records nothing), and a rotation re-issues one key per person
and attribute set."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch
from sharing_api.index.staff import IssuedKey
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.staff.rotation import rotate_without
from tests.api.conftest import Cast
from tests.security.limited_api import limited_api


def test_keys_per_person_are_limited(cast: Cast, tmp_path: Path) -> None:
    limits = {"key_issue_per_staff": {"limit": 3, "window_s": 3600}}
    with limited_api(cast.alliance, tmp_path, **limits) as api:
        doctor = SharingClient(api.url, cast.clinic_doctor.token)
        staff = api.services.staff
        member = cast.address("clinic")
        before = len(staff.keys(member))
        for _ in range(3):
            doctor.json("POST", "/keys", json={})
        with pytest.raises(ApiError) as caught:
            doctor.json("POST", "/keys", json={})
        assert caught.value.status == 429, caught.value
        assert len(staff.keys(member)) - before == 3  # the refused request recorded nothing


def test_a_rotation_reissues_one_key_per_person_and_attribute_set() -> None:
    authority = AttributeAuthority.setup("h1")
    today = current_epoch()

    def issued(n: int, staff: str, attributes: tuple[str, ...], days: int) -> IssuedKey:
        return IssuedKey(
            f"k{n}", "0x" + "11" * 20, staff, attributes, authority.generation, today + days
        )

    rows = [issued(n, "dr-a", ("h1.role:doctor",), 10 + n) for n in range(10)]
    rows.append(issued(20, "dr-a", ("h1.role:doctor", "h1.dept:er"), 5))
    rows.append(issued(21, "dr-b", ("h1.role:doctor",), 7))
    rows.append(issued(22, "dr-c", ("h1.role:doctor",), 7))  # revoked below
    rotation = rotate_without(authority, rows, ["dr-c"])
    kept = sorted((old.staff_id, old.attributes, old.expiry_epoch) for old, _ in rotation.reissued)
    assert kept == [
        ("dr-a", ("h1.role:doctor",), today + 19),  # the longest-lived of ten
        ("dr-a", ("h1.role:doctor", "h1.dept:er"), today + 5),
        ("dr-b", ("h1.role:doctor",), today + 7),
    ]

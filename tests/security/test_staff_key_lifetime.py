"""Threat: a staff member could ask for an ABE key valid for a year, and an ABE key cannot be
recalled: a person who left kept opening new records for up to a year. Keys issued to staff
are now capped (``staff_key_max_days``, default 30: longer requests are clamped) and each is
recorded (key id, staff id, attributes, expiry) so a revocation knows what to rotate out."""

from __future__ import annotations

import pytest

from crypto.expiry import current_epoch
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def test_a_key_request_beyond_the_cap_is_clamped_and_recorded(cast: Cast) -> None:
    services = cast.api.services
    staff = cast.h1.staff_client("dr-longkey", "doctor", ["dept:cardiology"])
    key = staff.issue_my_key(valid_days=200)
    assert key.expiry_epoch == current_epoch() + 30  # the default cap
    assert services.settings.staff_key_max_days == 30
    short = staff.issue_my_key(valid_days=3)
    assert short.expiry_epoch == current_epoch() + 3

    recorded = services.staff.keys(cast.address("h1"), "dr-longkey")
    assert [(k.key_id, k.expiry_epoch) for k in recorded] == [
        (key.key_id.hex(), key.expiry_epoch),
        (short.key_id.hex(), short.expiry_epoch),
    ]
    assert set(recorded[0].attributes) == {"h1.role:doctor", "h1.dept:cardiology"}

"""Threat: one person could break the glass without limit (main: no rate limit). Now each
member sets a count per window per person (the clinic: 2 per hour, tests/api/conftest.py): the third
read is refused with 429 and when the limit resets, another person is unaffected, and the
count lives in the index DB (a restarted or second worker counts the same reads)."""

from __future__ import annotations

import time

import pytest

from sharing_api.index.break_glass import BreakGlassStore
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration


def test_break_glass_is_rate_limited_per_person(cast: Cast) -> None:
    rid = unconsented_record(cast)
    er = cast.clinic.staff_client("dr-er-sun", "emergency-physician", ["dept:emergency"])
    started = time.time()
    for _ in range(2):
        er.fetch(rid, break_glass=True, reason="polytrauma, unconscious")
    logged = len(cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid}))

    with pytest.raises(ApiError) as caught:
        er.fetch(rid, break_glass=True, reason="polytrauma, unconscious")
    assert caught.value.status == 429
    resets = int(caught.value.problem["resets_at"])
    assert started + 3600 - 5 <= resets <= time.time() + 3600
    assert len(cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})) == logged

    # Kept in the index DB: a fresh store over it (a restart, another worker) agrees.
    fresh = BreakGlassStore(cast.api.services.index.engine)
    member = cast.address("clinic")
    assert fresh.take_turn(member, f"dr-er-sun@{member}", 2, 3600) is not None

    other = cast.clinic.staff_client("dr-er-zhou", "emergency-physician", ["dept:emergency"])
    other.fetch(rid, break_glass=True, reason="polytrauma, unconscious")

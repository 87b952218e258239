"""Threat: one person could break the glass without limit (main: no rate limit). Now each
member sets a count per window per person (the clinic: 2 per hour, tests/api/conftest.py): the third
read is refused with 429 and Retry-After, another person is unaffected, and the count lives
in the index DB (a restarted or second worker counts the same reads)."""

from __future__ import annotations

import time

import pytest

from sharing_api.api.core.config import RateLimit
from sharing_api.api.core.limits import Limiter, RateLimited
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
    retry = int(caught.value.problem["retry_after"])
    assert started + 3600 - 5 <= time.time() + retry <= time.time() + 3600
    assert len(cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})) == logged

    # Kept in the index DB: a fresh limiter over it (a restart, another worker) agrees.
    fresh = Limiter(cast.api.services.index.engine, cast.api.services.settings.rate_limits)
    with pytest.raises(RateLimited):
        fresh.hit(
            "break_glass_per_person",
            f"dr-er-sun@{cast.address('clinic')}",
            rule=RateLimit(limit=2, window_s=3600),
        )

    other = cast.clinic.staff_client("dr-er-zhou", "emergency-physician", ["dept:emergency"])
    other.fetch(rid, break_glass=True, reason="polytrauma, unconscious")

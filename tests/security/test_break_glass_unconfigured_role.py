"""Threat: any staff token whose role string is ``doctor`` could break the glass, whatever
the member allowed (main: a hard-coded role check). Now each member configures the roles
that may: the clinic allows its emergency physicians only (tests/api/conftest.py), so its
doctors are refused, and a nurse of h1 (default: doctors) still is."""

from __future__ import annotations

import pytest

from sharing_api.sdk import ApiError
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration


def test_a_role_the_member_did_not_configure_cannot_break_the_glass(cast: Cast) -> None:
    rid = unconsented_record(cast)
    for refused in (cast.clinic_doctor, cast.h1_nurse):
        before = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
        with pytest.raises(ApiError) as caught:
            refused.fetch(rid, break_glass=True, reason="collapsed in the corridor")
        assert caught.value.status == 403
        after = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
        assert after == before  # nothing logged

    er = cast.clinic.staff_client("dr-er-qian", "emergency-physician", ["dept:emergency"])
    _data, headers = er.fetch(rid, break_glass=True, reason="unconscious, no consent reachable")
    logged = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
    assert [(a["access_id"], a["basis"], a["reader"]) for a in logged] == [
        (int(headers["x-access-id"]), "break-glass", cast.address("clinic").lower())
    ]

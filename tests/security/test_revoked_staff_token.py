"""Threat: a staff token could not be revoked: a person who left (or whose token leaked)
kept reading until the token expired, hours later. A member now revokes its staff member
(POST /auth/staff/{staff_id}/revoke); every token of theirs is refused from the next
request on, including one the gateway has already verified and cached, and no new token is
issued to them."""

from __future__ import annotations

import pytest
from eth_account import Account

from sharing_api.sdk import ApiError
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def test_a_revoked_staff_token_is_refused_at_once(cast: Cast) -> None:
    patient = Account.create().address
    leaver = cast.h1.staff_client("dr-leaver", "doctor")
    colleague = cast.h1.staff_client("dr-stays", "doctor")
    rid = leaver.upload(patient, "lab", "h1.role:doctor", cast.sealed(b"x", "h1.role:doctor"))
    leaver.fetch(rid["record_id"])  # the token is verified, and so cached by the gateway
    assert leaver.json("GET", "/auth/me")["subject"].startswith("dr-leaver@")

    # Only a member revokes, and only its own staff: not staff, the regulator, a patient;
    # another member naming the same id revokes its own staff id, not h1's person.
    for other in (colleague, cast.regulator, cast.patient):
        with pytest.raises(ApiError) as refused:
            other.json("POST", "/auth/staff/dr-leaver/revoke")
        assert refused.value.status == 403
    assert cast.clinic.json("POST", "/auth/staff/dr-leaver/revoke")["member"] == cast.address(
        "clinic"
    )
    leaver.json("GET", "/auth/me")  # still in

    out = cast.h1.json("POST", "/auth/staff/dr-leaver/revoke")
    assert out["revoked"] is True and out["member"] == cast.address("h1")
    for method, path, body in (
        ("GET", "/auth/me", None),
        ("GET", f"/records/{rid['record_id']}/content", None),
        ("POST", "/keys", {"valid_days": 1}),
    ):
        with pytest.raises(ApiError) as refused:
            leaver.request(method, path, json=body)
        assert refused.value.status == 401
    # No new token for them; their colleague is untouched.
    with pytest.raises(ApiError) as again:
        cast.h1.staff_client("dr-leaver", "doctor")
    assert again.value.status == 403
    colleague.fetch(rid["record_id"])
    assert cast.h1.json("POST", "/auth/staff/dr-leaver/revoke")["revoked"] is False

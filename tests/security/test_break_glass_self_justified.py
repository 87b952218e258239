"""Threat: break-glass was self-reviewed: the reader, or anyone of its member in any role,
could justify it (main: any care-provider token of the reader's member). Now the
justification comes from another person in a role the member configures as reviewing
(default chief-physician, medical-director), and the chain records the reviewer's
pseudonym next to the justification's commitment."""

from __future__ import annotations

import pytest

from sharing_api.chain.scopes import Review
from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration
WHY = {"justification": "STEMI; patient unconscious; family unreachable"}


def _refused(client: SharingClient, access_id: int) -> int:
    with pytest.raises(ApiError) as caught:
        client.json("POST", f"/audit/break-glass/{access_id}/justify", json=WHY)
    return caught.value.status


def test_the_reader_cannot_justify_their_own_break_glass(cast: Cast) -> None:
    rid = unconsented_record(cast)
    reader = cast.h1.staff_client("dr-er-wu", "doctor", ["dept:emergency"])
    _data, headers = reader.fetch(rid, break_glass=True, reason="unconscious in ER")
    access_id = int(headers["x-access-id"])
    # the reader themself, even made a reviewer by a new token under the same staff id
    same_person = cast.h1.staff_client("dr-er-wu", "chief-physician", ["dept:emergency"])
    assert _refused(reader, access_id) == 403
    assert _refused(same_person, access_id) == 403
    assert _refused(cast.h1_nurse, access_id) == 403  # not a reviewing role
    assert _refused(cast.h1, access_id) == 403  # the member's own token is nobody
    other_member = cast.h3.staff_client("dr-he", "chief-physician", ["dept:cardiology"])
    assert _refused(other_member, access_id) == 403
    access = cast.api.services.reader.access
    assert access.break_glass_review(access_id)[0] is Review.OPEN

    director = cast.h1.staff_client("dr-ma", "medical-director", ["dept:administration"])
    out = director.json("POST", f"/audit/break-glass/{access_id}/justify", json=WHY)
    assert out["justified"] and out["review"] == "justified"
    review, reviewer = access.break_glass_review(access_id)
    assert review is Review.JUSTIFIED and any(reviewer)
    event = access.events("BreakGlassJustified", accessId=access_id)[-1].args
    assert bytes(event["reviewer"]) == reviewer

    opened = cast.regulator.json("GET", f"/audit/break-glass/{access_id}/review")
    assert opened["justification"]["text"] == WHY["justification"]
    assert opened["justification"]["matches_chain"] is True

"""Threat: the reader's member closed its own break-glass review (main: a justification
ended it; nobody outside the member ever ruled on it). Now only the regulator closes a case,
accepting or flagging it, by a transaction of its own (AccessLog.closeBreakGlass), and the
close is on chain and in the audit trail."""

from __future__ import annotations

import pytest

from sharing_api.chain.scopes import Review
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration


def test_only_the_regulator_closes_and_the_close_is_recorded(cast: Cast) -> None:
    rid = unconsented_record(cast)
    doctor = cast.h1.staff_client("dr-er-xu", "doctor", ["dept:emergency"])
    first = int(doctor.fetch(rid, break_glass=True, reason="arrest in ER")[1]["x-access-id"])
    second = int(doctor.fetch(rid, break_glass=True, reason="arrest in ER")[1]["x-access-id"])
    chief = cast.h1.staff_client("dr-lin", "chief-physician", ["dept:cardiology"])
    chief.json("POST", f"/audit/break-glass/{first}/justify", json={"justification": "VF arrest"})

    for client in (cast.h1, chief, doctor, cast.patient):
        with pytest.raises(ApiError) as caught:
            client.json("POST", f"/audit/break-glass/{first}/close", json={"accepted": True})
        assert caught.value.status == 403
    access = cast.api.services.reader.access
    assert access.break_glass_review(first)[0] is Review.JUSTIFIED

    accepted = cast.regulator.json(
        "POST", f"/audit/break-glass/{first}/close", json={"accepted": True}
    )
    flagged = cast.regulator.json(
        "POST", f"/audit/break-glass/{second}/close", json={"accepted": False}
    )
    assert (accepted["review"], flagged["review"]) == ("accepted", "flagged")
    closed = {
        int(e.args["accessId"]): (e.args["regulator"], e.args["accepted"])
        for e in access.events("BreakGlassClosed")
    }
    regulator = cast.address("regulator")
    assert closed[first] == (regulator, True) and closed[second] == (regulator, False)
    assert access.break_glass_review(second)[0] is Review.FLAGGED
    with pytest.raises(ApiError) as again:  # closed is closed
        cast.regulator.json("POST", f"/audit/break-glass/{first}/close", json={"accepted": False})
    assert again.value.status == 409
    trail = {e.name for e in cast.api.services.reader.audit_trail()}
    assert "BreakGlassClosed" in trail

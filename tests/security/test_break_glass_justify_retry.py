"""Threat (availability of the audit trail): a justification whose chain transaction failed
(node away, a timeout) left its sealed text behind at the gateway, and every retry then hit
the kept row's primary key: a 500 for good, so the break-glass read could never be justified.
Now the text the chain did not take is dropped, and a retry seals afresh."""

from __future__ import annotations

from typing import Any

import pytest

from sharing_api.chain.scopes import Review
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration
WHY = {"justification": "anaphylaxis; patient unconscious"}


def test_a_failed_justification_can_be_retried(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = unconsented_record(cast)
    reader = cast.h1.staff_client("dr-er-qian", "doctor", ["dept:emergency"])
    _data, headers = reader.fetch(rid, break_glass=True, reason="collapsed in the lobby")
    access_id = int(headers["x-access-id"])
    chief = cast.h1.staff_client("dr-chief-sun", "chief-physician", ["dept:emergency"])
    services = cast.api.services
    writer = type(services.signer(cast.address("h1")).access)
    real = writer.justify
    calls = {"n": 0}

    def fails_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the fault injected: the chain never sees this transaction
            raise ConnectionError("ledger node unreachable")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(writer, "justify", fails_once)
    with pytest.raises(ApiError) as caught:
        chief.json("POST", f"/audit/break-glass/{access_id}/justify", json=WHY)
    assert caught.value.status >= 500
    assert "justification" not in services.break_glass.texts(access_id)  # nothing half-kept
    assert services.reader.access.break_glass_review(access_id)[0] is Review.OPEN

    out = chief.json("POST", f"/audit/break-glass/{access_id}/justify", json=WHY)
    assert out["review"] == "justified"
    opened = cast.regulator.json("GET", f"/audit/break-glass/{access_id}/review")
    assert opened["justification"]["text"] == WHY["justification"]
    assert opened["justification"]["matches_chain"] is True

"""Threat: a sign-in message that is not bound to this gateway or to a short time window
(SIWE's URI and Issued At were unchecked; Expiration Time was optional) can be phished on
another page or replayed much later."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from sharing_api.auth.siwe import SiweError, SiweMessage, sign_message, verify_message

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
WALLET = Account.create()
GATEWAY = "https://gw.h1.example:8443"


def _verify(**changes: object) -> SiweMessage:
    message = SiweMessage(
        domain="alliance.local",
        address=WALLET.address,
        statement="Sign in to AllianceLedger.",
        uri=GATEWAY + "/wallet/",
        chain_id=7171,
        nonce="a1b2c3d4e5f6a7b8",
        issued_at=NOW,
        expiration_time=NOW + timedelta(minutes=5),
    )
    message = replace(message, **changes)  # type: ignore[arg-type]
    return verify_message(
        message.to_text(),
        sign_message(message, WALLET.key),
        domain="alliance.local",
        nonce=message.nonce,
        chain_id=7171,
        uri_origins=[GATEWAY],
        now=NOW + timedelta(seconds=5),
    )


def test_a_message_for_this_gateway_signs_in() -> None:
    assert _verify().address == WALLET.address
    assert _verify(uri="HTTPS://GW.H1.EXAMPLE:8443").address == WALLET.address


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"uri": "https://evil.example/wallet/"}, "is not this gateway"),
        ({"uri": "https://gw.h1.example:9443/"}, "is not this gateway"),
        ({"uri": "http://gw.h1.example:8443/"}, "is not this gateway"),
        ({"expiration_time": None}, "must carry an Expiration Time"),
        ({"issued_at": NOW + timedelta(minutes=5)}, "in the future"),
        (
            {"issued_at": NOW - timedelta(hours=2), "expiration_time": NOW + timedelta(hours=1)},
            "over 600 s ago",
        ),
        ({"expiration_time": NOW + timedelta(days=30)}, "3600 s at most"),
    ],
)
def test_unbound_or_stale_messages_are_refused(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(SiweError, match=fragment):
        _verify(**changes)

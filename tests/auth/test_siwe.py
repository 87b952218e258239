"""EIP-4361 messages: round trip, strict parsing, every verification failure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from sharing_api.auth.siwe import (
    SiweError,
    SiweMessage,
    new_nonce,
    parse_message,
    sign_message,
    verify_message,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
WALLET = Account.create()


def _message(**changes: object) -> SiweMessage:
    base = SiweMessage(
        domain="127.0.0.1:8700",
        address=WALLET.address,
        statement="Sign in to AllianceLedger.",
        uri="http://127.0.0.1:8700/auth/login",
        chain_id=31337,
        nonce="a1b2c3d4e5f6a7b8",
        issued_at=NOW,
        expiration_time=NOW + timedelta(minutes=10),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _verify(message: SiweMessage, signature: str | None = None, **overrides: object) -> SiweMessage:
    kwargs: dict[str, object] = {
        "domain": "127.0.0.1:8700",
        "nonce": message.nonce,
        "chain_id": 31337,
        "uri_origins": ["http://127.0.0.1:8700"],
        "now": NOW,
    }
    kwargs.update(overrides)
    return verify_message(
        message.to_text(),
        signature or sign_message(message, WALLET.key),
        **kwargs,  # type: ignore[arg-type]
    )


def test_round_trip_and_verify() -> None:
    message = _message()
    assert parse_message(message.to_text()) == message
    assert _verify(message).address == WALLET.address
    assert len(new_nonce()) >= 16


def test_statement_is_optional() -> None:
    message = _message(statement="", expiration_time=None)
    assert parse_message(message.to_text()) == message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"domain": "evil.example"}, "not 'evil.example'"),
        ({"chain_id": 1}, "chain"),
        ({"nonce": "zzzzzzzzzzzz"}, "nonce"),
        ({"now": NOW + timedelta(hours=1)}, "expired"),
    ],
)
def test_verification_failures(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(SiweError, match=fragment):
        _verify(_message(), None, **overrides)


def test_not_before_and_wrong_signer() -> None:
    with pytest.raises(SiweError, match="not valid yet"):
        _verify(_message(not_before=NOW + timedelta(minutes=1)))
    other = Account.create()
    message = _message()
    with pytest.raises(SiweError, match="does not match"):
        _verify(message, sign_message(message, other.key))
    with pytest.raises(SiweError, match="malformed"):
        _verify(message, "0x1234")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(" wants you", " would like you"),
        lambda t: t.replace(WALLET.address, WALLET.address.lower()),
        lambda t: t.replace("Version: 1", "Version: 2"),
        lambda t: t.replace("Chain ID: 31337", "Chain ID: x"),
        lambda t: t.replace("Nonce: a1b2c3d4e5f6a7b8", "Nonce: short"),
        lambda t: t.replace("Issued At: 2026-11-22T08:00:00Z", "Issued At: yesterday"),
        lambda t: t + "\nResources: x",
        lambda t: "\n".join(t.split("\n")[:6]),
        lambda t: t.replace("URI:", "URL:"),
    ],
)
def test_malformed_messages_are_refused(mangle: object) -> None:
    text = mangle(_message().to_text())  # type: ignore[operator]
    with pytest.raises(SiweError):
        parse_message(text)

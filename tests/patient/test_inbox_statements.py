"""A patient's inbox statements for the primary and each pseudonym, checked as a set: every
one as it would be alone, the first bad one named."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.gateway.inbox_auth import (
    InboxAuthError,
    check_inbox_statements,
    inbox_text,
    sign_text,
)
from sharing_api.patient.pseudonyms import primary_account, pseudonym_account

RELAY = Account.create().address
CHAIN = 1337


def _statement(
    key: LocalAccount, patient: str, expires: int, relay: str = RELAY
) -> tuple[str, int, str]:
    return patient, expires, sign_text(bytes(key.key), inbox_text(patient, relay, CHAIN, expires))


@pytest.fixture
def keys() -> list[LocalAccount]:
    _, phrase = Account.create_with_mnemonic()
    pseudonyms = [pseudonym_account(phrase, Account.create().address) for _ in range(3)]
    return [primary_account(phrase), *pseudonyms]


def test_each_statement_is_checked_and_the_bad_one_named(keys: list[LocalAccount]) -> None:
    soon = int(time.time()) + 300
    statements = [_statement(k, k.address, soon) for k in keys]
    assert check_inbox_statements(statements, RELAY, CHAIN) == tuple(
        k.address.lower() for k in keys
    )
    third = keys[2]
    bad = {
        "another signer": _statement(Account.create(), third.address, soon),
        "another relay": _statement(third, third.address, soon, Account.create().address),
        "expired": _statement(third, third.address, int(time.time()) - 1),
        "too long": _statement(third, third.address, soon + 3600),
    }
    for why, entry in bad.items():
        mixed = [*statements[:2], entry, *statements[3:]]
        with pytest.raises(InboxAuthError) as refused:
            check_inbox_statements(mixed, RELAY, CHAIN)
        assert str(refused.value).startswith(f"{third.address}: "), why
    with pytest.raises(InboxAuthError, match="listed twice"):
        check_inbox_statements([*statements, statements[1]], RELAY, CHAIN)
    with pytest.raises(InboxAuthError, match="not signed by the patient"):
        check_inbox_statements(statements, RELAY, CHAIN + 1)  # another alliance's chain

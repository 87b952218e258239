"""The verified-token cache never outlives a token and never admits a forged one."""

from __future__ import annotations

import time

import pytest

from sharing_api.api.core.security import Kind, Principal, TokenError, TokenService


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def principal() -> Principal:
    return Principal(kind=Kind.PATIENT, subject="0x" + "ab" * 20)


def test_a_cached_token_still_expires() -> None:
    clock = Clock()
    service = TokenService("s" * 64, 60, clock=clock)
    token, expires = service.issue(principal())
    assert service.verify(token).subject == principal().subject
    assert service.verify(token).subject == principal().subject  # served from the cache
    clock.now = expires
    with pytest.raises(TokenError, match="expired"):
        service.verify(token)
    with pytest.raises(TokenError, match="expired"):
        service.verify(token)  # and stays refused once dropped from the cache


def test_a_token_with_one_flipped_character_is_refused_after_the_real_one_is_cached() -> None:
    service = TokenService("s" * 64, 60, clock=Clock())
    token, _ = service.issue(principal())
    service.verify(token)
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(TokenError):
        service.verify(forged)


def test_another_secret_never_shares_a_cache() -> None:
    clock = Clock()
    token, _ = TokenService("s" * 64, 60, clock=clock).issue(principal())
    with pytest.raises(TokenError, match="invalid"):
        TokenService("t" * 64, 60, clock=clock).verify(token)

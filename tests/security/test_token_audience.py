"""Threat: a bearer token issued by one gateway is replayed at another (JWTs carried no
audience). Tokens now name the gateway they are for, and one without an audience is void."""

from __future__ import annotations

import time

import jwt
import pytest

from sharing_api.api.core.security import ISSUER, Kind, Principal, TokenError, TokenService

SECRET = "s" * 64  # the same secret on purpose: the audience alone must keep them apart
PATIENT = Principal(kind=Kind.PATIENT, subject="0x" + "12" * 20)


def test_a_token_for_one_gateway_is_refused_by_another() -> None:
    h1 = TokenService(SECRET, 60, audience="https://gw.h1.example")
    cloud = TokenService(SECRET, 60, audience="https://gw.cloud.example")
    token, _ = h1.issue(PATIENT)
    assert h1.verify(token).subject == PATIENT.subject
    with pytest.raises(TokenError, match=r"(?i)audience"):
        cloud.verify(token)


def test_a_token_without_audience_is_refused() -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": PATIENT.subject, "kind": "patient", "iat": now,
              "exp": now + 60, "jti": "x"}  # fmt: skip
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        TokenService(SECRET, 60).verify(token)

"""Threat: the API relayed signed grants without limit, each one a transaction the
alliance pays for: one machine, or anyone holding one patient's signatures, could spam the
chain. Now relays are limited per client IP and per patient (429 + Retry-After), and a
refused relay writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast, known_patient
from tests.security.limited_api import client_from, limited_api


def _patient(cast: Cast, url: str, source_ip: str) -> tuple[LocalAccount, SharingClient]:
    key = known_patient(cast)
    client = client_from(url, source_ip)
    client.login(key.key)
    return key, client


def _grant(client: SharingClient, key: LocalAccount, cast: Cast) -> dict[str, object]:
    return client.grant_consent(
        key.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )


def _refused(client: SharingClient, key: LocalAccount, cast: Cast) -> ApiError:
    before = len(cast.regulator.json("GET", "/audit/consents"))
    with pytest.raises(ApiError) as caught:
        _grant(client, key, cast)
    assert caught.value.status == 429, caught.value
    assert len(cast.regulator.json("GET", "/audit/consents")) == before
    return caught.value


def test_relays_for_one_patient_are_limited(cast: Cast, tmp_path: Path) -> None:
    limits = {"consent_per_patient": {"limit": 2, "window_s": 3600}}
    with limited_api(cast.alliance, tmp_path, **limits) as api:
        key, patient = _patient(cast, api.url, "127.0.0.3")
        _grant(patient, key, cast)
        _grant(patient, key, cast)
        _refused(patient, key, cast)
        # The same patient's signatures relayed from another machine: still refused.
        elsewhere = client_from(api.url, "127.0.0.4")
        elsewhere.token = patient.token
        _refused(elsewhere, key, cast)
        # Another patient is not held back by the first.
        other_key, other = _patient(cast, api.url, "127.0.0.4")
        _grant(other, other_key, cast)


def test_relays_from_one_ip_are_limited(cast: Cast, tmp_path: Path) -> None:
    with limited_api(cast.alliance, tmp_path, consent_per_ip={"limit": 3, "window_s": 3600}) as api:
        signers = [_patient(cast, api.url, "127.0.0.5") for _ in range(4)]
        for key, client in signers[:3]:
            _grant(client, key, cast)
        key, client = signers[3]
        problem = _refused(client, key, cast)
        assert "from your address" in str(problem)
        # A patient on another machine still gets their consent relayed.
        other_key, other = _patient(cast, api.url, "127.0.0.6")
        _grant(other, other_key, cast)

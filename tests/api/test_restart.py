"""Sign-in state survives a real restart of the API: nonces live in the index database
(single use, expiry, no replay across restarts) and the JWT secret is persisted under the
API's state dir (0600), unless one is configured."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.api.core.jwt_secret import FILE_NAME
from sharing_api.api.core.security import Kind, Principal, TokenService
from sharing_api.auth.siwe import SiweMessage, sign_message
from sharing_api.sdk import SharingClient
from tests.support.api import running_api

PUBLIC_URL = "https://gw.h1.test"

if TYPE_CHECKING:
    from tests.support.api import TestAlliance

pytestmark = pytest.mark.integration


def _nonce(url: str) -> dict[str, Any]:
    response = httpx.post(url + "/auth/nonce")
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def _signed(key: LocalAccount, facts: dict[str, Any], uri: str) -> dict[str, str]:
    now = datetime.now(UTC)
    message = SiweMessage(
        domain=facts["domain"],
        address=key.address,
        statement="",
        uri=uri,
        chain_id=int(facts["chain_id"]),
        nonce=facts["nonce"],
        issued_at=now,
        expiration_time=now + timedelta(minutes=5),
    )
    return {"message": message.to_text(), "signature": sign_message(message, key.key)}


def _login(url: str, body: dict[str, str]) -> httpx.Response:
    return httpx.post(url + "/auth/login", json=body)


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_nonces_and_tokens_survive_a_restart(alliance: TestAlliance, tmp_path: Path) -> None:
    # Both instances serve one gateway, registered under one public URL: the URI signed.
    settings = alliance.settings(
        database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        state_dir=str(tmp_path / "api"),
        public_url=PUBLIC_URL,
    )
    patient = Account.create()
    with running_api(settings) as first:
        used = _signed(patient, _nonce(first.url), PUBLIC_URL)
        kept = _signed(patient, _nonce(first.url), PUBLIC_URL)
        response = _login(first.url, used)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert _login(first.url, used).status_code == 401  # single use
    secret_file = tmp_path / "api" / FILE_NAME
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    with running_api(settings) as second:
        # The token issued before the restart is still good: same persisted secret.
        me = _me(second.url, token)
        assert me.status_code == 200 and me.json()["subject"] == patient.address
        # A nonce issued before the restart works once; used ones stay used.
        assert _login(second.url, used).status_code == 401
        assert _login(second.url, kept).status_code == 200
        assert _login(second.url, kept).status_code == 401
        # A token signed with another secret is refused.
        forged = TokenService("f" * 64, 60, audience=PUBLIC_URL).issue(
            Principal(kind=Kind.PATIENT, subject=patient.address)
        )[0]
        refused = _me(second.url, forged)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        stale = _signed(patient, _nonce(second.url), PUBLIC_URL)

    # A configured secret wins over the persisted one: old tokens no longer verify.
    configured = settings.model_copy(update={"jwt_secret": "c" * 64})
    with running_api(configured) as third:
        assert _me(third.url, token).status_code == 401
        assert _login(third.url, kept).status_code == 401  # replay after two restarts
        fresh = _login(third.url, stale)
        assert fresh.status_code == 200
        assert _me(third.url, fresh.json()["access_token"]).status_code == 200
        tokens = TokenService("c" * 64, 60, audience=PUBLIC_URL)
        assert tokens.verify(fresh.json()["access_token"]).subject == (patient.address)


def test_expired_nonce_is_refused(alliance: TestAlliance, tmp_path: Path) -> None:
    settings = alliance.settings(
        database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        state_dir=str(tmp_path / "api"),
        nonce_ttl_s=1,
    )
    patient = Account.create()
    with running_api(settings) as api:
        late = _signed(patient, _nonce(api.url), api.url)
        on_time = _signed(patient, _nonce(api.url), api.url)
        assert _login(api.url, on_time).status_code == 200
        time.sleep(1.2)
        response = _login(api.url, late)
        assert response.status_code == 401
        assert "nonce" in response.json()["detail"]


def test_two_workers_share_nonces_and_secret(alliance: TestAlliance, tmp_path: Path) -> None:
    """Two API instances on one database and state dir at once (as worker processes would)."""
    settings = alliance.settings(
        database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        state_dir=str(tmp_path / "api"),
        public_url=PUBLIC_URL,
    )
    patient = Account.create()
    with running_api(settings) as a, running_api(settings) as b:
        body = _signed(patient, _nonce(a.url), PUBLIC_URL)
        at_b = _login(b.url, body)
        assert at_b.status_code == 200, at_b.text
        assert _login(a.url, body).status_code == 401  # used at b: gone for a too
        token = at_b.json()["access_token"]
        assert _me(a.url, token).json()["subject"] == patient.address


def test_console_verification_survives_a_restart(alliance: TestAlliance, tmp_path: Path) -> None:
    """The regulator console's last verification is kept in the index database: after a
    restart the status still shows it (not "Not verified yet"), and reading it does not run
    a new one; a new database starts with none."""
    settings = alliance.settings(
        database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}", state_dir=str(tmp_path / "api")
    )
    with running_api(settings) as first:
        regulator = SharingClient(first.url)
        regulator.login(alliance.keys["regulator"])
        assert regulator.json("GET", "/audit/status")["verification"] is None
        ran = regulator.json("GET", "/audit/verification", params={"run": "true"})
        regulator.close()
    assert ran["chain"]["checked"] and ran["chain"]["blocks"] > 1
    # every live blob (records erased at a patient's request have none to check)
    assert ran["blobs"]["checked"] == ran["blobs"]["total"] - ran["blobs"]["erased"]
    assert ran["blobs"]["ok"] == ran["blobs"]["checked"]

    time.sleep(1.1)  # a re-run after the restart would carry a later ran_at
    with running_api(settings) as second:
        regulator = SharingClient(second.url)
        regulator.login(alliance.keys["regulator"])
        assert regulator.json("GET", "/audit/status")["verification"] == ran
        assert regulator.json("GET", "/audit/verification") == ran
        again = regulator.json("GET", "/audit/verification", params={"run": "true"})
        assert again["ran_at"] > ran["ran_at"]
        assert regulator.json("GET", "/audit/status")["verification"] == again
        regulator.close()

    other = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.sqlite3'}"})
    with running_api(other) as third:
        regulator = SharingClient(third.url)
        regulator.login(alliance.keys["regulator"])
        assert regulator.json("GET", "/audit/status")["verification"] is None
        regulator.close()

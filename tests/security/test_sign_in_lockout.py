"""Threat: one global cap on live sign-in nonces let one client, flooding POST /auth/nonce,
lock everyone out of sign-in. Now each client IP has its own limit (429 + Retry-After) far
below the global ceiling, so the flood stops at the flooder."""

from __future__ import annotations

from pathlib import Path

from tests.security.limited_api import client_from, limited_api
from tests.support.api import TestAlliance as Alliance


def test_one_client_cannot_lock_others_out_of_sign_in(alliance: Alliance, tmp_path: Path) -> None:
    with limited_api(
        alliance, tmp_path, nonce_per_ip={"limit": 5, "window_s": 60}, nonces_live=40
    ) as api:
        flooder = client_from(api.url, "127.0.0.1")
        answers = [flooder.http.post("/auth/nonce") for _ in range(60)]
        codes = [r.status_code for r in answers]
        assert codes[:5] == [200] * 5
        refused = answers[-1]
        assert refused.status_code == 429, codes
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["retry-after"]) <= 60

        # Another machine still signs in, although the flooder asked for more nonces than
        # the global ceiling allows.
        other = client_from(api.url, "127.0.0.2")
        out = other.login(alliance.keys["h1"])
        assert out["kind"] == "member"
        flooder.close()
        other.close()

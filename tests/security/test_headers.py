"""Threat: the wallet and console could be framed (clickjacking), sniffed or made to run
injected or third-party script; the docs page loaded a CDN script. Every response now
carries nosniff and a CSP; the web apps' CSP allows their own origin only."""

from __future__ import annotations

import pytest

from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def test_web_apps_send_a_strict_csp(cast: Cast) -> None:
    for path in ("/wallet/", "/console/", "/wallet/app.js"):
        response = cast.anonymous.http.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_api_responses_allow_nothing_and_docs_are_off(cast: Cast) -> None:
    for path in ("/health", "/openapi.json", "/records/1"):
        response = cast.anonymous.http.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    for path in ("/docs", "/redoc"):
        assert cast.anonymous.http.get(path).status_code == 404

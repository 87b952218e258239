"""The web shell: the API serves the built apps, an unbuilt app says how to build it, and
both bundles load in Debian's headless Chromium without a script error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sharing_api.web.mount import mount_web
from tests.support.api import free_port
from tests.support.browser import PHONE, chromium, ensure_web_built, screenshot


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_unbuilt_app_answers_503_with_the_build_command(tmp_path: Path) -> None:
    app = FastAPI()
    mount_web(app, dist=tmp_path)
    with serving(app) as base:
        response = httpx.get(f"{base}/wallet/")
    assert response.status_code == 503
    assert "build_web.mjs" in response.text


@pytest.mark.integration
@pytest.mark.parametrize("name", ["wallet", "console"])
def test_bundle_loads_in_headless_chromium(name: str) -> None:
    app = FastAPI()
    mount_web(app, dist=ensure_web_built())
    errors: list[str] = []
    with serving(app) as base, chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/{name}/")
        page.wait_for_selector("#app[data-ready=true]", timeout=15_000)
        screenshot(page, f"shell-{name}")
    assert errors == []

"""The web shell: the API serves the built apps, an unbuilt app says how to build it, and
both bundles load in Debian's headless Chromium without a script error and without asking
for anything outside the API's origin (the request log itself is shown to catch a CDN)."""

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
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot


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
        requests = RequestLog.attach(page.context, base)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/{name}/")
        page.wait_for_selector("#app[data-ready=true]", timeout=15_000)
        screenshot(page, f"shell-{name}")
    assert errors == []
    requests.assert_local(f"/{name}/", f"/{name}/app.js", f"/{name}/style.css")


@pytest.mark.integration
def test_request_log_catches_a_cdn() -> None:
    """The check the wallet and console tests rely on: a script from another origin (aborted
    here, so nothing leaves the machine) and a fetch to another port both show up as
    foreign; the page's own file and a data: URL do not."""
    app = FastAPI()
    mount_web(app, dist=ensure_web_built())
    with serving(app) as base, chromium() as browser:
        page = browser.new_page()
        requests = RequestLog.attach(page.context, base)
        page.route("http://cdn.example/**", lambda route: route.abort())
        page.route("http://127.0.0.1:9/**", lambda route: route.abort())
        page.goto(f"{base}/wallet/")
        page.evaluate(
            """() => new Promise(done => {
                const s = document.createElement('script');
                s.src = 'http://cdn.example/ethers.min.js';
                s.onerror = s.onload = done;
                document.head.append(s);
            })"""
        )
        page.evaluate("fetch('http://127.0.0.1:9/x').catch(() => null)")
        page.evaluate("fetch('data:text/plain,hello').then(r => r.text())")
    assert requests.foreign() == ["http://cdn.example/ethers.min.js", "http://127.0.0.1:9/x"]
    with pytest.raises(AssertionError, match=r"cdn\.example"):
        requests.assert_local()
    with pytest.raises(AssertionError, match="never requested"):
        RequestLog(requests.origin, [f"{base}/favicon.ico"]).assert_local("/wallet/app.js")

"""Debian's headless Chromium driven by Playwright (never a downloaded browser), plus the
built web apps, a place for screenshots kept as test artifacts, and a log of every request
a page makes (the apps must load nothing from outside the API: no CDN)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
DIST = REPO / "sharing_api" / "web" / "dist"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
]
PHONE = ViewportSize(width=390, height=844)


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("Debian's chromium is not installed: run `make setup`")


def ensure_web_built() -> Path:
    """Build the bundles if the Makefile has not (a bare `pytest` run), or if a source under
    apps/ changed since (a stale bundle would test old code)."""
    bundles = [DIST / app / "app.js" for app in ("wallet", "console")]
    sources = [p for p in (DIST.parent / "apps").rglob("*") if p.is_file()]
    if not all(b.is_file() for b in bundles) or max(p.stat().st_mtime for p in sources) > min(
        b.stat().st_mtime for b in bundles
    ):
        subprocess.run(["node", "scripts/build_web.mjs"], cwd=REPO, check=True)
    return DIST


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class RequestLog:
    """Every URL the pages of a browser context asked for (documents, scripts, styles,
    images, fonts, fetches, downloads, web sockets), to check none leaves the API's origin.

        requests = RequestLog.attach(context, api.url)
        ...
        requests.assert_local()
    """

    origin: str
    urls: list[str] = field(default_factory=list)

    @classmethod
    def attach(cls, context: BrowserContext, base_url: str) -> RequestLog:
        log = cls(origin_of(base_url))
        if urlsplit(log.origin).hostname != "127.0.0.1":
            raise ValueError(f"the API under test is not on 127.0.0.1: {base_url}")
        context.on("request", lambda request: log.urls.append(request.url))
        context.on("page", log._watch_sockets)
        for page in context.pages:
            log._watch_sockets(page)
        return log

    def _watch_sockets(self, page: Page) -> None:
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    def foreign(self) -> list[str]:
        """URLs neither on the API's origin nor inline (data:, blob:)."""
        return [
            u
            for u in self.urls
            if not u.startswith(("data:", "blob:")) and origin_of(u) != self.origin
        ]

    def assert_local(self, *must_include: str) -> None:
        """Nothing went elsewhere; and the log did see the app's own files (`must_include`:
        paths such as "/wallet/app.js"), so an empty log cannot pass for a clean one."""
        assert self.foreign() == [], f"requests outside {self.origin}: {self.foreign()}"
        paths = {urlsplit(u).path for u in self.urls}
        missing = [p for p in must_include if p not in paths]
        assert not missing, f"never requested {missing}; saw {sorted(paths)}"

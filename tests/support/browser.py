"""Debian's headless Chromium driven by Playwright (never a downloaded browser), plus the
built web apps and a place for screenshots kept as test artifacts."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

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

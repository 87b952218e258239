"""Serve the built browser apps from the API process, so they share its origin (no CORS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

WEB_APPS = ("wallet", "console")
DIST = Path(__file__).parent / "dist"


def mount_web(app: FastAPI, dist: Path = DIST) -> None:
    """Mount each built app at ``/<name>/``; an app not built answers 503 saying how to
    build it, rather than a bare 404."""
    for name in WEB_APPS:
        built = dist / name
        if (built / "index.html").is_file():
            app.mount(f"/{name}", StaticFiles(directory=built, html=True), name=f"web-{name}")
        else:
            app.add_api_route(
                f"/{name}/{{rest:path}}",
                _not_built(name),
                methods=["GET"],
                include_in_schema=False,
            )


def _not_built(name: str) -> Callable[[str], Awaitable[PlainTextResponse]]:
    async def handler(rest: str = "") -> PlainTextResponse:
        return PlainTextResponse(
            f"the {name} app is not built: run `make setup` (node scripts/build_web.mjs)",
            status_code=503,
        )

    return handler

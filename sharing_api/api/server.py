"""Serving the API in a background thread (uvicorn) on 127.0.0.1: for the demo and tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from ledger_node.network.procs import free_port
from sharing_api.api.core.config import ApiSettings
from sharing_api.api.main import create_app
from sharing_api.api.services import Services


@dataclass
class RunningApi:
    url: str
    app: FastAPI
    services: Services


@contextmanager
def serve_in_thread(
    settings: ApiSettings, port: int = 0, passphrase: str | None = None
) -> Iterator[RunningApi]:
    services = Services.build(settings, passphrase=passphrase)
    app = create_app(services)
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sharing-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise OSError("the sharing API did not start")
            time.sleep(0.02)
        yield RunningApi(f"http://127.0.0.1:{port}", app, services)
    finally:
        server.should_exit = True
        thread.join(15)

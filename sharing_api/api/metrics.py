"""Prometheus metrics: request counts and latencies per route template, chain writes."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """One registry per app, so several apps (tests) in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "alliance_api_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "alliance_api_request_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.chain_writes = Counter(
            "alliance_api_chain_writes",
            "Transactions sent, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.bytes_out = Counter(
            "alliance_api_ciphertext_bytes_served",
            "Ciphertext bytes streamed to readers",
            registry=self.registry,
        )
        self.bytes_in = Counter(
            "alliance_api_ciphertext_bytes_stored",
            "Ciphertext bytes accepted from custodians",
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        app.add_middleware(_Observe, metrics=self)


class _Observe:
    """Pure ASGI middleware (BaseHTTPMiddleware would add a task and a copy per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - start)
            self.metrics.requests.labels(template, method, str(status[0])).inc()

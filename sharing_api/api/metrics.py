"""Prometheus metrics: request counts and latencies per route template, chain writes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


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
        @app.middleware("http")
        async def observe(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            start = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.latency.labels(template, request.method).observe(time.perf_counter() - start)
            self.requests.labels(template, request.method, str(response.status_code)).inc()
            return response

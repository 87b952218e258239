"""A second API over the session's alliance with tight rate limits and its own index DB
(so the session API's hits never count here), and clients that come from another IP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from sharing_api.api.core.config import RateLimits
from sharing_api.sdk import SharingClient
from tests.support.api import LOOSE_LIMITS, RunningApi, TestAlliance, running_api


@contextmanager
def limited_api(alliance: TestAlliance, root: Path, **limits: object) -> Iterator[RunningApi]:
    """``limits``: the RateLimits fields to tighten (the others stay loose)."""
    tight = RateLimits.model_validate({**LOOSE_LIMITS.model_dump(), **limits})
    settings = alliance.settings(
        database_url=f"sqlite:///{root / 'limited-index.sqlite3'}", rate_limits=tight
    )
    with running_api(settings) as api:
        yield api


def client_from(url: str, source_ip: str) -> SharingClient:
    """An SDK client whose connections leave from ``source_ip`` (any 127.x.y.z is loopback
    on Linux): to the API, a different client machine."""
    client = SharingClient(url)
    client.http.close()
    client.http = httpx.Client(
        base_url=client.base_url,
        timeout=client.timeout,
        transport=httpx.HTTPTransport(local_address=source_ip),
    )
    return client

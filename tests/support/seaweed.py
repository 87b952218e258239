"""SeaweedFS for tests: ``sharing_api.storage.servers`` (the launcher the demo uses) in a
temporary directory, skipping the test with the reason if ``weed`` is not installed.

    with seaweedfs() as s3:
        S3Storage("bucket", endpoint_url=s3.endpoint, access_key=s3.access_key, ...)

``access_key``/``secret_key`` are the operator's (may create any bucket); pass
``identities={"h1": "bucket-h1"}`` for credentials limited to one bucket each.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from sharing_api.storage import servers
from sharing_api.storage.servers import S3Credentials, SeaweedFS

ACCESS_KEY = "alliance-test"
SECRET_KEY = "alliance-test-secret"

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedFS", "seaweedfs", "weed_binary"]


def weed_binary() -> Path:
    """The weed binary, or skip the test with the reason."""
    try:
        return servers.weed_binary()
    except servers.ServerNotInstalledError as exc:
        pytest.skip(str(exc))


@contextmanager
def seaweedfs(
    startup_timeout: float = 60.0, identities: Mapping[str, str] | None = None
) -> Iterator[SeaweedFS]:
    weed_binary()
    with (
        tempfile.TemporaryDirectory(prefix="seaweedfs-") as tmp,
        servers.seaweedfs(
            Path(tmp),
            identities=identities,
            admin=S3Credentials(ACCESS_KEY, SECRET_KEY),
            timeout=startup_timeout,
        ) as server,
    ):
        yield server

"""Storage errors. Bad or tampered data is a ValueError, a missing blob or a dead server an
OSError, so the `alliance` CLI reports each as one line (see sharing_api/cli/main.py)."""

from __future__ import annotations

from sharing_api.storage.unixfs import InvalidCIDError


class StorageError(Exception):
    """Base of every storage error (always combined with ValueError or OSError)."""


class NotFoundError(StorageError, FileNotFoundError):
    """No blob with this CID in the backend."""

    def __init__(self, cid: str, backend: str) -> None:
        super().__init__(f"{backend}: no blob with CID {cid}")
        self.cid = cid
        self.backend = backend


class IntegrityError(StorageError, ValueError):
    """Bytes read back do not match the CID (or the recorded SHA-256 / size)."""

    def __init__(self, cid: str, detail: str) -> None:
        super().__init__(f"integrity check failed for CID {cid}: {detail}")
        self.cid = cid


class OverSizeError(StorageError, ValueError):
    """The blob exceeds the configured size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds the size limit of {limit} bytes; nothing was stored")
        self.limit = limit


class BackendUnavailableError(StorageError, ConnectionError):
    """The backend could not be reached after bounded retries."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"storage backend {backend} is unavailable: {detail}")
        self.backend = backend


__all__ = [
    "BackendUnavailableError",
    "IntegrityError",
    "InvalidCIDError",
    "NotFoundError",
    "OverSizeError",
    "StorageError",
]

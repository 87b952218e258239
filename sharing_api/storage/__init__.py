"""Content-addressed record storage: one `Storage` interface, four backends.

- ``LocalStorage`` (embedded default), ``IPFSStorage`` (Kubo RPC API), ``S3Storage``
  (boto3), ``ReplicatedStorage`` (writes to all, reads from whichever is healthy).
- CIDs are computed locally and equal Kubo's (``unixfs``); reads are verified block by
  block (``verify``). Errors live in ``errors``; ``config.open_storage`` builds a backend
  from flags, environment and ``$ALLIANCE_HOME/storage.toml``. See README.md here.

Backends are imported from their modules (``sharing_api.storage.local`` ...) so that using
the local store does not import boto3 or httpx.
"""

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import (
    BackendUnavailableError,
    IntegrityError,
    InvalidCIDError,
    NotFoundError,
    OverSizeError,
    StorageError,
)

__all__ = [
    "BackendUnavailableError",
    "BlobInfo",
    "IntegrityError",
    "InvalidCIDError",
    "NotFoundError",
    "OverSizeError",
    "Source",
    "Storage",
    "StorageError",
]

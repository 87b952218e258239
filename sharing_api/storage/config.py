"""Which backend to use and how to reach it: flags > environment > config file > defaults.

The config file is ``$ALLIANCE_HOME/storage.toml`` (or ``--config``), with a ``[storage]``
table whose keys are the field names below, e.g.::

    [storage]
    backend = "replicated"
    replicas = ["local", "ipfs"]
    ipfs_api = "http://127.0.0.1:5001"
    max_size = 1073741824

An off-site backup (an alliance backup centre) is a ``[storage.backup]`` table of its own
(an ``s3`` or ``ipfs`` endpoint with its own bucket and credentials): writes then go to the
primary store and the backup, reads come from the primary only, erasure reaches both::

    [storage.backup]
    backend = "s3"
    s3_endpoint = "https://backup.alliance.example"
    s3_bucket = "h1"

Environment variables: ``ALLIANCE_STORAGE_<FIELD>`` (e.g. ``ALLIANCE_STORAGE_BACKEND``,
``ALLIANCE_STORAGE_S3_BUCKET``; ``replicas`` comma-separated, ``backup`` as JSON). S3
credentials may also come from boto3's usual sources (``AWS_ACCESS_KEY_ID``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from sharing_api.settings import alliance_home, layered, settings_file
from sharing_api.storage.base import Storage

BACKENDS = ("local", "ipfs", "s3", "replicated")
DEFAULT_MAX_SIZE = 8 * 1024**3


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = "local"
    local_root: str = ""  # default: $ALLIANCE_HOME/storage
    ipfs_api: str = "http://127.0.0.1:5001"
    s3_endpoint: str = ""
    s3_bucket: str = "alliance-records"
    s3_prefix: str = "records/"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    replicas: tuple[str, ...] = ("local", "ipfs")
    max_size: int = DEFAULT_MAX_SIZE  # bytes; 0 means no limit
    cid_version: int = 0
    retries: int = 3
    timeout: float = 30.0
    # Written with every blob, erased with it, never read: see ReplicatedStorage.backups.
    backup: StorageConfig | None = None

    @field_validator("backup", mode="before")
    @classmethod
    def _json_table(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and value.strip() else value or None

    @field_validator("replicas", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        return tuple(str(v).strip() for v in items if str(v).strip())

    @model_validator(mode="after")
    def _consistent(self) -> StorageConfig:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown storage backend {self.backend!r} (one of {BACKENDS})")
        if self.cid_version not in (0, 1):
            raise ValueError("cid_version must be 0 or 1")
        bad = [r for r in self.replicas if r not in BACKENDS or r == "replicated"]
        if self.backend == "replicated" and (bad or len(self.replicas) < 2):
            raise ValueError(f"replicas must name two or more of local, ipfs, s3: {self.replicas}")
        if self.max_size < 0:
            raise ValueError("max_size must be >= 0")
        if self.backup is not None and (
            self.backup.backend not in ("s3", "ipfs") or self.backup.backup is not None
        ):
            raise ValueError("backup must be one s3 or ipfs endpoint (a backup centre, no gateway)")
        return self


def load_config(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
) -> StorageConfig:
    """Merge defaults, the config file (``file_values`` if the caller read it already),
    ``ALLIANCE_STORAGE_*`` variables and overrides."""
    if file_values is None:
        file_values = settings_file(
            config_file, alliance_home() / "storage.toml", section="storage"
        )
        if isinstance(file_values.get("storage"), dict):  # a gateway.json: its storage table
            file_values = file_values["storage"]
    return layered(
        StorageConfig,
        env_prefix="ALLIANCE_STORAGE_",
        file_values=file_values,
        overrides=overrides,
        environ=environ,
        what="storage setting",
    )


def open_storage(config: StorageConfig, backend: str | None = None) -> Storage:
    """Build the configured backend (``backend`` picks one replica's settings by name)."""
    if config.backup is not None and backend is None:
        from sharing_api.storage.replicated import ReplicatedStorage

        primary = open_storage(config.model_copy(update={"backup": None}))
        replicas = primary.replicas if isinstance(primary, ReplicatedStorage) else [primary]
        return ReplicatedStorage(
            replicas,
            backups=[open_storage(config.backup)],
            max_size=config.max_size or None,
            cid_version=config.cid_version,
        )
    kind = backend or config.backend
    limit = config.max_size or None
    if kind == "local":
        from sharing_api.storage.local import LocalStorage

        root = Path(config.local_root) if config.local_root else alliance_home() / "storage"
        return LocalStorage(root, max_size=limit, cid_version=config.cid_version)
    if kind == "ipfs":
        from sharing_api.storage.ipfs import IPFSStorage

        return IPFSStorage(
            config.ipfs_api,
            max_size=limit,
            cid_version=config.cid_version,
            retries=config.retries,
            timeout=config.timeout,
        )
    if kind == "s3":
        from sharing_api.storage.s3 import S3Storage

        return S3Storage(
            config.s3_bucket,
            prefix=config.s3_prefix,
            endpoint_url=config.s3_endpoint or None,
            access_key=config.s3_access_key or None,
            secret_key=config.s3_secret_key or None,
            region=config.s3_region,
            max_size=limit,
            cid_version=config.cid_version,
            retries=config.retries,
            timeout=config.timeout,
        )
    if kind == "replicated":
        from sharing_api.storage.replicated import ReplicatedStorage

        replicas = [open_storage(config, name) for name in config.replicas]
        return ReplicatedStorage(replicas, max_size=limit, cid_version=config.cid_version)
    raise ValueError(f"unknown storage backend {kind!r}")

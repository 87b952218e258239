"""API settings: a JSON file (``$ALLIANCE_HOME/api.json`` or ``--config``) overridden by
``ALLIANCE_API_<FIELD>`` environment variables.

Hosted members are the members this API instance signs chain transactions for (it holds their
ledger keys, and, for attribute authorities, their ABE master keys): a hospital runs the API
for itself, a regional pilot may run one API for several members. Members that are not
hosted (e.g. the regulator) can still sign in and read.

Those keys live in passphrase-sealed key files (``crypto/keystore.py``; see
``sharing_api/api/core/keys.py``), never in this config: a plaintext ``key`` is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


def alliance_home() -> Path:
    return Path(os.environ.get("ALLIANCE_HOME", "~/.alliance")).expanduser()


class HostedMember(BaseModel):
    """A member this API signs for: ``key_file`` is its ledger key sealed under the API's
    passphrase (``alliance api seal-key``); ``authority_key_file`` its sealed ABE master key
    (``alliance abe setup``'s ``master.key``) if it issues staff keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: str = Field(description="sealed ledger key file (kind 'ledger')")
    authority: str | None = Field(default=None, description="ABE authority id, e.g. h1")
    authority_key_file: str | None = Field(
        default=None, description="sealed ABE master key file (kind 'authority')"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data:
            raise ValueError(
                "a plaintext ledger 'key' in the API config is refused: seal it into a key "
                "file with `alliance api seal-key` and name it as 'key_file'"
            )
        return data


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_url: str = "http://127.0.0.1:8545"
    deployment_file: str = ""  # default: $ALLIANCE_HOME/deployment.json
    members: tuple[HostedMember, ...] = ()
    storage_root: str = ""  # local store root; default: $ALLIANCE_HOME/storage
    database_url: str = ""  # default: SQLite at $ALLIANCE_HOME/api/index.sqlite3
    state_dir: str = ""  # the API's own files (JWT secret); default: $ALLIANCE_HOME/api
    passphrase_file: str = ""  # unlocks the key files; else $ALLIANCE_PASSPHRASE
    jwt_secret: str = ""  # default: generated once, kept in state_dir/jwt_secret (0600)
    token_ttl_s: int = Field(default=900, gt=0, le=86_400)
    staff_token_ttl_s: int = Field(default=8 * 3600, gt=0, le=7 * 86_400)
    siwe_domain: str = "alliance.local"
    nonce_ttl_s: int = Field(default=300, gt=0)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    index_poll_s: float = Field(default=0.5, gt=0)
    chain_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("jwt_secret must be at least 32 characters (or unset: generated)")
        return value

    def resolved_deployment_file(self) -> Path:
        return Path(self.deployment_file or alliance_home() / "deployment.json")

    def resolved_storage_root(self) -> Path:
        return Path(self.storage_root or alliance_home() / "storage")

    def resolved_state_dir(self) -> Path:
        return Path(self.state_dir or alliance_home() / "api")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = self.resolved_state_dir() / "index.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ApiSettings:
    """Defaults < config file < ``ALLIANCE_API_*`` environment < explicit overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or alliance_home() / "api.json"
    if path.exists():
        try:
            values.update(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from None
    elif config_file is not None:
        raise FileNotFoundError(f"API config file not found: {path}")
    for name in ApiSettings.model_fields:
        env = environ.get(f"ALLIANCE_API_{name.upper()}")
        if env is not None and name != "members":
            values[name] = env
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return ApiSettings.model_validate(values)
    except ValidationError as exc:
        # One line, and never the offending input: it may be a key pasted into the config.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"bad API settings: {problems}") from None

"""Gateway settings: a JSON file (``$ALLIANCE_HOME/api.json`` or ``--config``) overridden by
``ALLIANCE_API_<FIELD>`` environment variables, then by flags (``sharing_api.settings``).

The record store is configured exactly as for `alliance storage`: the file's ``storage``
table, else ``$ALLIANCE_HOME/storage.toml``; then ``ALLIANCE_STORAGE_*``; then flags.

Hosted members are the members this API instance signs chain transactions for (it holds their
ledger keys, and, for attribute authorities, their ABE master keys): a hospital runs the API
for itself, a regional pilot may run one API for several members. Members that are not
hosted (e.g. the regulator) can still sign in and read.

Those keys live in passphrase-sealed key files (``crypto/keystore.py``; see
``sharing_api/api/core/keys.py``), never in this config: a plaintext ``key`` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sharing_api.settings import alliance_home, layered, settings_file
from sharing_api.storage.config import StorageConfig, load_config

__all__ = [
    "ApiSettings",
    "HostedMember",
    "RateLimit",
    "RateLimits",
    "alliance_home",
    "load_settings",
]


class HostedMember(BaseModel):
    """A member this API signs for: ``key_file`` is its ledger key sealed under the API's
    passphrase (``alliance gateway seal-key``); ``authority_key_file`` its sealed ABE master key
    (``alliance abe setup``'s ``master.key``) if it issues staff keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: str = Field(description="sealed ledger key file (kind 'ledger')")
    authority: str | None = Field(default=None, description="ABE authority id, e.g. h1")
    authority_key_file: str | None = Field(
        default=None, description="sealed ABE master key file (kind 'authority')"
    )
    passphrase_file: str = Field(
        default="",
        description="this member's own passphrase file (a hosted clinic's keys sealed apart); "
        "default: the gateway's passphrase",
    )
    # ---- break-glass (the member's own rules; see api/break_glass.py) ----
    break_glass_roles: tuple[str, ...] = Field(
        default=("doctor",), description="staff roles that may break the glass"
    )
    break_glass_reviewers: tuple[str, ...] = Field(
        default=("chief-physician", "medical-director"),
        description="staff roles that may justify another person's break-glass read",
    )
    break_glass_limit: int = Field(
        default=3, gt=0, le=1000, description="break-glass reads per person per window"
    )
    break_glass_window_s: int = Field(default=24 * 3600, gt=0, le=30 * 86_400)
    audit_key_file: str | None = Field(
        default=None,
        description="a regulator's sealed X25519 audit key (kind 'audit'): this gateway "
        "opens the break-glass reasons sealed to it, for the regulator's console",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data:
            raise ValueError(
                "a plaintext ledger 'key' in the API config is refused: seal it into a key "
                "file with `alliance gateway seal-key` and name it as 'key_file'"
            )
        return data


class RateLimit(BaseModel):
    """At most ``limit`` (hits, or bytes) per subject in any ``window_s`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(gt=0)
    window_s: float = Field(gt=0, le=7 * 86_400)


class RateLimits(BaseModel):
    """The limits of the public surfaces (429 + Retry-After past them). Per IP means per
    client address as the server sees it (an IPv6 client: its /64); behind a proxy, run
    uvicorn with ``--proxy-headers`` so that is the client's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Sign-in: per IP, and a global ceiling of live nonces far above what one IP can hold
    # (20 a minute for the 5-minute nonce life: 100), so no single client exhausts it.
    nonce_per_ip: RateLimit = RateLimit(limit=20, window_s=60)
    nonces_live: int = Field(default=100_000, gt=0)
    consent_per_patient: RateLimit = RateLimit(limit=20, window_s=3600)
    consent_per_ip: RateLimit = RateLimit(limit=200, window_s=3600)
    upload_per_uploader: RateLimit = RateLimit(limit=600, window_s=3600)  # member or staff
    upload_bytes_per_member: RateLimit = RateLimit(limit=8 * 1024**3, window_s=3600)
    # Used by the break-glass route (per person): see sharing_api/api/core/limits.py.
    break_glass_per_person: RateLimit = RateLimit(limit=3, window_s=3600)
    # ABE keys a staff member asks for (POST /keys): each costs a key generation and a row
    # that a revocation re-issues; a person needs a few a month (one per device, a renewal).
    key_issue_per_staff: RateLimit = RateLimit(limit=20, window_s=3600)


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_url: str = "http://127.0.0.1:8545"
    deployment_file: str = ""  # default: $ALLIANCE_HOME/deployment.json
    members: tuple[HostedMember, ...] = ()
    storage_root: str = ""  # shorthand for storage.local_root
    storage: StorageConfig = StorageConfig()  # the record store, as `alliance storage` has it
    database_url: str = ""  # default: SQLite at $ALLIANCE_HOME/api/index.sqlite3
    state_dir: str = ""  # the API's own files (JWT secret); default: $ALLIANCE_HOME/api
    passphrase_file: str = ""  # unlocks the key files; else $ALLIANCE_PASSPHRASE
    jwt_secret: str = ""  # default: generated once, kept in state_dir/jwt_secret (0600)
    token_ttl_s: int = Field(default=900, gt=0, le=86_400)
    staff_token_ttl_s: int = Field(default=8 * 3600, gt=0, le=7 * 86_400)
    # The longest an ABE key issued to staff lives (POST /keys clamps longer requests): a
    # leaked or revoked person's key dies by itself within this, rotation or not.
    staff_key_max_days: int = Field(default=30, ge=1, le=366)
    siwe_domain: str = "alliance.local"
    nonce_ttl_s: int = Field(default=300, gt=0)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    rate_limits: RateLimits = RateLimits()
    index_poll_s: float = Field(default=0.5, gt=0)
    chain_timeout_s: float = Field(default=30.0, gt=0)
    # ---- the gateway among gateways ----
    public_url: str = ""  # where other gateways reach this one (registered on chain)
    tls_cert_file: str = ""  # default: state_dir/tls/cert.pem when it exists
    tls_key_file: str = ""  # default: state_dir/tls/key.pem
    insecure_http: bool = False  # serve and call peers over plain HTTP (loopback tests only)
    access_window_blocks: int = Field(default=64, gt=0, le=100_000)
    peer_timeout_s: float = Field(default=30.0, gt=0)
    directory_ttl_s: float = Field(default=10.0, ge=0)  # how long a directory entry is trusted
    inbox_timeout_s: float = Field(default=5.0, gt=0)  # a patient's inbox waits this long for peers
    # The alliance's data encryption (crypto/suite.py) is the genesis's, in deployment.json:
    # records sealed through this gateway's SDK clients (it is in /health). Unset here means
    # that one; set, it must agree (the gateway refuses to start otherwise). Readers need no
    # setting: records and key files name their suite.
    crypto_suite: Literal["aes-256-gcm", "sm4-gcm"] | None = None

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("jwt_secret must be at least 32 characters (or unset: generated)")
        return value

    def resolved_deployment_file(self) -> Path:
        return Path(self.deployment_file or alliance_home() / "deployment.json")

    def resolved_storage(self) -> StorageConfig:
        """The store config, with the local root defaulting to $ALLIANCE_HOME/storage."""
        root = self.storage.local_root or self.storage_root or str(alliance_home() / "storage")
        return self.storage.model_copy(update={"local_root": root})

    def resolved_tls(self) -> tuple[Path, Path] | None:
        """(certificate, key) to serve with, or None when there is none (plain HTTP)."""
        tls = self.resolved_state_dir() / "tls"
        cert = Path(self.tls_cert_file) if self.tls_cert_file else tls / "cert.pem"
        key = Path(self.tls_key_file) if self.tls_key_file else tls / "key.pem"
        if self.tls_cert_file or self.tls_key_file or cert.exists():
            return cert, key
        return None

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
    *,
    storage_file: Path | None = None,
    storage_overrides: Mapping[str, Any] | None = None,
) -> ApiSettings:
    """Defaults < config file < ``ALLIANCE_API_*`` environment < explicit overrides; the
    ``storage`` table likewise from its own layers (see the module docstring)."""
    values = settings_file(config_file, alliance_home() / "api.json")
    storage_values = values.pop("storage", None)
    if storage_file is not None or not isinstance(storage_values, dict):
        storage_values = None  # read storage.toml (or the explicit file) the usual way
    storage = load_config(storage_file, storage_overrides, environ, file_values=storage_values)
    settings = layered(
        ApiSettings,
        env_prefix="ALLIANCE_API_",
        file_values=values,
        overrides=overrides,
        environ=environ,
        not_from_env=("members", "storage", "rate_limits"),
        what="API settings",
    )
    return settings.model_copy(update={"storage": storage})

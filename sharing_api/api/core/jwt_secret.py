"""The token-signing secret: the configured ``jwt_secret`` if any, else one generated on first
start and kept in ``<state_dir>/jwt_secret`` (0600), so tokens survive restarts and every
worker process of one API agrees on it."""

from __future__ import annotations

import fcntl
import secrets
import stat
from pathlib import Path

from crypto.files import atomic_output
from sharing_api.api.core.config import ApiSettings

FILE_NAME = "jwt_secret"
MIN_CHARS = 32


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_CHARS:
        raise ValueError(f"{path} holds no usable secret (under {MIN_CHARS} characters)")
    return value


def load_or_create(directory: Path) -> str:
    """Read the persisted secret, creating it once. A lock file serialises workers starting
    together, so they cannot each write a different secret."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    with open(directory / f".{FILE_NAME}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():
                return _read(path)
            value = secrets.token_hex(32)
            with atomic_output(path, mode=0o600) as handle:
                handle.write(value.encode("ascii") + b"\n")
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def token_secret(settings: ApiSettings) -> str:
    return settings.jwt_secret or load_or_create(settings.resolved_state_dir())

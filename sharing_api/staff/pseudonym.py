"""A staff member's pseudonym on chain: HMAC-SHA256 under a secret of their member.

Input: the tag, the member's 20 address bytes, then the staff id (UTF-8); the tag and the
address have fixed lengths, so no two (member, staff id) pairs share an input. Without the
member's secret nobody can tell which person a pseudonym names, nor that two members' staff
are one person (each member has its own secret). A new secret gives every person a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import secrets
import stat
from pathlib import Path

from crypto.files import atomic_output

TAG = b"alliance-staff-pseudonym-v1"
SECRET_BYTES = 32


def pseudonym(secret: bytes, member: str, staff_id: str) -> bytes:
    """The 32-byte pseudonym AccessLogged carries for ``staff_id`` of ``member``."""
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"a staff pseudonym secret has at least {SECRET_BYTES} bytes")
    address = bytes.fromhex(member.removeprefix("0x"))
    if len(address) != 20:
        raise ValueError(f"not a member address: {member}")
    if not staff_id:
        raise ValueError("empty staff id")
    return hmac.new(secret, TAG + address + staff_id.encode(), hashlib.sha256).digest()


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    value = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(value) < SECRET_BYTES:
        raise ValueError(f"{path} holds no usable secret (under {SECRET_BYTES} bytes)")
    return value


def load_or_create_secret(directory: Path, member: str) -> bytes:
    """The member's pseudonym secret, kept in ``directory/<member>.key`` (0600), created on
    first use; a lock keeps workers starting together from writing two different ones."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{member.lower()}.key"
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():
                return _read(path)
            value = secrets.token_bytes(SECRET_BYTES)
            with atomic_output(path, mode=0o600) as handle:
                handle.write(value.hex().encode("ascii") + b"\n")
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

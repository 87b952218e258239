"""The hosted members' secrets at rest: ledger keys and ABE master keys in key files sealed
under one passphrase (``crypto.keystore``: scrypt + AES-256-GCM, or SM4-GCM in the gateway's
``crypto_suite``; each file names its suite), unlocked once at start.

The passphrase comes from a file (``--passphrase-file`` or the ``passphrase_file`` setting,
e.g. a systemd credential) or else ``ALLIANCE_PASSPHRASE``. A missing or wrong passphrase and
a plaintext key file are refused before anything is served: each is a one-line ValueError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from crypto.authority import AttributeAuthority
from crypto.errors import KeystoreError
from crypto.keystore import (
    DEFAULT_LOG2_N,
    MIN_LOG2_N,
    key_file_suite,
    read_key_file,
    sealed_cost,
    write_key_file,
)
from crypto.suite import DEFAULT_SUITE, Suite
from sharing_api.api.core.config import ApiSettings, HostedMember

LEDGER_KIND = "ledger"  # a member's 32-byte ledger (secp256k1) private key
AUTHORITY_KIND = "authority"  # as `alliance abe setup` writes master.key
AUDIT_KIND = "audit"  # a regulator's X25519 audit key (32 raw bytes), opens break-glass reasons
PASSPHRASE_ENV = "ALLIANCE_PASSPHRASE"
MAX_PASSPHRASE_BYTES = 4096


class PassphraseError(ValueError):
    """No passphrase to unlock the hosted members' key files."""


@dataclass(frozen=True)
class UnlockedMember:
    ledger_key: bytes
    authority: AttributeAuthority | None
    audit_key: X25519PrivateKey | None = None
    # What unlocked them: the gateway re-seals the authority under it when it rotates.
    passphrase: str = field(default="", repr=False)


def resolve_passphrase(settings: ApiSettings, environ: Mapping[str, str] | None = None) -> str:
    """The passphrase file if one is configured (trailing newline dropped), else the env."""
    environ = os.environ if environ is None else environ
    if settings.passphrase_file:
        return read_passphrase_file(Path(settings.passphrase_file))
    value = environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise PassphraseError(
            f"no passphrase for the hosted members' key files: set {PASSPHRASE_ENV} "
            "or pass --passphrase-file"
        )
    return value


def read_passphrase_file(path: Path) -> str:
    """A passphrase kept in a file (trailing newline dropped)."""
    if path.stat().st_size > MAX_PASSPHRASE_BYTES:
        raise PassphraseError(f"{path}: too large to be a passphrase file")
    value = path.read_text(encoding="utf-8").rstrip("\r\n")
    if not value:
        raise PassphraseError(f"passphrase file {path} is empty")
    return value


def _open(path: Path, kind: str, passphrase: str) -> bytes:
    try:
        return read_key_file(path, kind, passphrase)
    except KeystoreError as exc:
        hint = ""
        if "not a key file" in str(exc):
            hint = " (plaintext keys are refused: seal them with `alliance gateway seal-key`)"
        raise KeystoreError(f"{path}: {exc}{hint}") from None


def unlock_member(member: HostedMember, passphrase: str) -> UnlockedMember:
    raw = _open(Path(member.key_file), LEDGER_KIND, passphrase)
    if len(raw) != 32:
        raise KeystoreError(f"{member.key_file}: a ledger key is 32 bytes, found {len(raw)}")
    authority = None
    if member.authority_key_file:
        path = Path(member.authority_key_file)
        authority = AttributeAuthority.from_bytes(_open(path, AUTHORITY_KIND, passphrase))
        if member.authority and authority.authority != member.authority:
            raise ValueError(
                f"{path} is authority {authority.authority!r}, configured as {member.authority!r}"
            )
    audit_key = None
    if member.audit_key_file:
        sealed = _open(Path(member.audit_key_file), AUDIT_KIND, passphrase)
        if len(sealed) != 32:
            raise KeystoreError(f"{member.audit_key_file}: an audit key is 32 bytes")
        audit_key = X25519PrivateKey.from_private_bytes(sealed)
    return UnlockedMember(raw, authority, audit_key, passphrase)


@dataclass(frozen=True)
class AuthorityFile:
    """Where a hosted member's authority is sealed, and the passphrase that sealed it."""

    path: Path
    passphrase: str = field(repr=False)

    def save(self, authority: AttributeAuthority) -> None:
        """Re-seal a rotated authority over the file: atomically, 0600, at the cost and in the
        cipher suite the file was sealed with (never below the keystore's minimum cost)."""
        try:
            cost, suite = max(sealed_cost(self.path), MIN_LOG2_N), key_file_suite(self.path)
        except (OSError, KeystoreError):
            cost, suite = DEFAULT_LOG2_N, DEFAULT_SUITE
        raw = authority.to_bytes()
        write_key_file(self.path, AUTHORITY_KIND, raw, self.passphrase, cost, suite)


def seal_audit_key(
    path: Path,
    key: X25519PrivateKey,
    passphrase: str,
    log2_n: int,
    suite: Suite = DEFAULT_SUITE,
) -> None:
    """Seal a regulator's X25519 audit key into ``path`` (0600, atomic)."""
    write_key_file(path, AUDIT_KIND, key.private_bytes_raw(), passphrase, log2_n, suite)


def unlock_members(settings: ApiSettings, passphrase: str | None = None) -> list[UnlockedMember]:
    """Every hosted member's keys: a member with its own ``passphrase_file`` (a hosted
    clinic's keys sealed apart) unlocks with it; the others with the gateway's passphrase,
    which is asked for only if some member needs it."""
    shared: str | None = passphrase
    unlocked = []
    for member in settings.members:
        if member.passphrase_file:
            secret = read_passphrase_file(Path(member.passphrase_file))
        else:
            if shared is None:
                shared = resolve_passphrase(settings)
            secret = shared
        unlocked.append(unlock_member(member, secret))
    return unlocked


def seal_ledger_key(
    path: Path,
    private_key: str | bytes,
    passphrase: str,
    log2_n: int = DEFAULT_LOG2_N,
    suite: Suite = DEFAULT_SUITE,
) -> str:
    """Seal a ledger key into ``path`` (0600, atomic); returns the account's address."""
    account = Account.from_key(private_key)
    write_key_file(path, LEDGER_KIND, bytes(account.key), passphrase, log2_n, suite)
    return str(account.address)


def seal_hosted_member(
    directory: Path,
    name: str,
    private_key: str | bytes,
    passphrase: str,
    authority: AttributeAuthority | None = None,
    log2_n: int = DEFAULT_LOG2_N,
    suite: Suite = DEFAULT_SUITE,
) -> HostedMember:
    """Seal a member's keys into ``directory`` and describe them for the API config
    (used by `alliance demo` and the tests' alliance)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / f"{name}.ledger.key"
    seal_ledger_key(key_file, private_key, passphrase, log2_n, suite)
    if authority is None:
        return HostedMember(key_file=str(key_file))
    authority_file = directory / f"{name}.authority.key"
    raw = authority.to_bytes()
    write_key_file(authority_file, AUTHORITY_KIND, raw, passphrase, log2_n, suite)
    return HostedMember(
        key_file=str(key_file),
        authority=authority.authority,
        authority_key_file=str(authority_file),
    )

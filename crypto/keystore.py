"""Keys at rest: a serialized key sealed under a passphrase (scrypt + the suite's AEAD).

File layout: "ALKS" | version (2) | suite u8 | kind (text) | scrypt log2(n), r, p | salt (16) |
nonce (12) | ciphertext. Everything before the ciphertext is its associated data, so the
suite, the kind and the KDF parameters cannot be swapped. A wrong passphrase and a corrupted
file both raise :class:`KeystoreError` (they are indistinguishable by design). Version 1 (no
suite byte) is still read, as AES-256-GCM.

Suites (``crypto.suite``): AES-256-GCM under the scrypt output itself (as in version 1), or
SM4-GCM under HKDF-SM3 of the scrypt output. scrypt stays the passphrase hardening in both:
it is memory-hard, and no national-standard KDF is (PBKDF2-HMAC-SM3 would make a stolen key
file far cheaper to brute-force on GPUs); the SM3 step makes the key the SM4 cipher uses an
SM3 derivation, bound to this format.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto.encoding import Reader, Writer
from crypto.errors import FormatError, KeystoreError
from crypto.files import atomic_output
from crypto.suite import AES_256_GCM_SHA256, DEFAULT_SUITE, Suite, suite_by_id

VERSION = 2  # written; version 1 (no suite byte: AES-256-GCM) is still read
# scrypt N = 2^17, r = 8, p = 1 (128 MiB, ~0.4 s per open): the cost OWASP recommends.
DEFAULT_LOG2_N = 17
# Files sealed more cheaply than this are refused on load: an attacker who could swap a key
# file for a cheaply sealed one would otherwise make its passphrase cheap to guess. The demo
# seals its throw-away keys at exactly this minimum (nine members start faster).
MIN_LOG2_N = 15
MAX_FILE_BYTES = 16 << 20


def _kdf(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _file_key(suite: Suite, passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    stretched = _kdf(passphrase, salt, log2_n, r, p)
    if suite == AES_256_GCM_SHA256:
        return stretched  # exactly as version 1
    return suite.hkdf(stretched, salt, b"keystore-key")


def seal(
    kind: str,
    payload: bytes,
    passphrase: str,
    log2_n: int = DEFAULT_LOG2_N,
    suite: Suite = DEFAULT_SUITE,
) -> bytes:
    if not passphrase:
        raise KeystoreError("an empty passphrase is not allowed")
    if not MIN_LOG2_N <= log2_n <= 20:
        raise KeystoreError(f"scrypt log2 N must be {MIN_LOG2_N}..20, not {log2_n}")
    salt, nonce, r, p = os.urandom(16), os.urandom(12), 8, 1
    w = Writer().raw(b"ALKS").u8(VERSION).u8(suite.suite_id).text(kind)
    head = w.u8(log2_n).u8(r).u8(p).raw(salt).raw(nonce).getvalue()
    key = _file_key(suite, passphrase, salt, log2_n, r, p)
    return head + suite.aead(key).encrypt(nonce, payload, head)


def _read_suite(r: Reader) -> Suite:
    version = r.u8()
    if version not in (1, 2):
        raise FormatError(f"key file: unsupported version {version} (expected 1 or 2)")
    return suite_by_id(r.u8(), "key file") if version >= 2 else DEFAULT_SUITE


def file_suite(data: bytes) -> Suite:
    """The suite a sealed key file is in (to re-seal it in the same one), no passphrase."""
    r = Reader(data, "key file")
    try:
        r.expect(b"ALKS")
        return _read_suite(r)
    except FormatError as exc:
        raise KeystoreError(f"not a key file: {exc}") from exc


def unseal(data: bytes, passphrase: str, expected_kind: str) -> bytes:
    try:
        r = Reader(data, "key file")
        r.expect(b"ALKS")
        suite = _read_suite(r)
        kind = r.text(64)
        log2_n, block, parallel = r.u8(), r.u8(), r.u8()
        salt, nonce = r.raw(16), r.raw(12)
    except FormatError as exc:
        raise KeystoreError(f"not a key file: {exc}") from exc
    if kind != expected_kind:
        raise KeystoreError(f"key file holds a {kind} key, expected a {expected_kind} key")
    if not (MIN_LOG2_N <= log2_n <= 20 and 8 <= block <= 16 and 1 <= parallel <= 4):
        raise KeystoreError(
            f"key file has out-of-range KDF parameters (scrypt log2 N {log2_n}, r {block}, "
            f"p {parallel}; at least log2 N {MIN_LOG2_N}, r 8): re-seal it"
        )
    head, body = data[: r.offset], data[r.offset :]
    key = _file_key(suite, passphrase, salt, log2_n, block, parallel)
    try:
        return suite.aead(key).decrypt(nonce, body, head)
    except InvalidTag:
        raise KeystoreError("wrong passphrase or corrupted key file") from None


def write_key_file(
    path: Path,
    kind: str,
    payload: bytes,
    passphrase: str,
    log2_n: int = DEFAULT_LOG2_N,
    suite: Suite = DEFAULT_SUITE,
) -> None:
    """Write atomically with owner-only permissions."""
    sealed = seal(kind, payload, passphrase, log2_n, suite)
    with atomic_output(path, mode=0o600) as handle:
        handle.write(sealed)


def read_key_file(path: Path, kind: str, passphrase: str) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KeystoreError(f"{path}: too large to be a key file")
    return unseal(path.read_bytes(), passphrase, kind)


def sealed_cost(path: Path) -> int:
    """The scrypt log2 N a key file was sealed with (re-sealing it keeps the same cost)."""
    try:
        r = Reader(path.read_bytes()[:256], "key file")
        r.expect(b"ALKS")
        _read_suite(r)
        r.text(64)
        return r.u8()
    except FormatError as exc:
        raise KeystoreError(f"{path}: not a key file: {exc}") from exc


def key_file_suite(path: Path) -> Suite:
    with open(path, "rb") as handle:
        return file_suite(handle.read(6))

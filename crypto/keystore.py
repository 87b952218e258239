"""Keys at rest: a serialized key sealed under a passphrase (scrypt + AES-256-GCM).

File layout: "ALKS" | version | kind (text) | scrypt log2(n), r, p | salt (16) | nonce (12) |
ciphertext. Everything before the ciphertext is its associated data, so the kind and the KDF
parameters cannot be swapped. A wrong passphrase and a corrupted file both raise
:class:`KeystoreError` (they are indistinguishable by design).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto.encoding import Reader, Writer
from crypto.errors import FormatError, KeystoreError
from crypto.files import atomic_output

VERSION = 1
# scrypt N = 2^17, r = 8, p = 1 (128 MiB, ~0.4 s per open): the cost OWASP recommends.
DEFAULT_LOG2_N = 17
# Files sealed more cheaply than this are refused on load: an attacker who could swap a key
# file for a cheaply sealed one would otherwise make its passphrase cheap to guess. The demo
# seals its throw-away keys at exactly this minimum (nine members start faster).
MIN_LOG2_N = 15
MAX_FILE_BYTES = 16 << 20


def _kdf(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(kind: str, payload: bytes, passphrase: str, log2_n: int = DEFAULT_LOG2_N) -> bytes:
    if not passphrase:
        raise KeystoreError("an empty passphrase is not allowed")
    if not MIN_LOG2_N <= log2_n <= 20:
        raise KeystoreError(f"scrypt log2 N must be {MIN_LOG2_N}..20, not {log2_n}")
    salt, nonce, r, p = os.urandom(16), os.urandom(12), 8, 1
    head = (
        Writer().raw(b"ALKS").u8(VERSION).text(kind).u8(log2_n).u8(r).u8(p).raw(salt).raw(nonce)
    ).getvalue()
    key = _kdf(passphrase, salt, log2_n, r, p)
    return head + AESGCM(key).encrypt(nonce, payload, head)


def unseal(data: bytes, passphrase: str, expected_kind: str) -> bytes:
    try:
        r = Reader(data, "key file")
        r.expect(b"ALKS")
        r.version(VERSION)
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
    key = _kdf(passphrase, salt, log2_n, block, parallel)
    try:
        return AESGCM(key).decrypt(nonce, body, head)
    except InvalidTag:
        raise KeystoreError("wrong passphrase or corrupted key file") from None


def write_key_file(
    path: Path, kind: str, payload: bytes, passphrase: str, log2_n: int = DEFAULT_LOG2_N
) -> None:
    """Write atomically with owner-only permissions."""
    sealed = seal(kind, payload, passphrase, log2_n)
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
        r.version(VERSION)
        r.text(64)
        return r.u8()
    except FormatError as exc:
        raise KeystoreError(f"{path}: not a key file: {exc}") from exc

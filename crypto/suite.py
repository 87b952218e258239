"""Cipher suites for record data and key files: which AEAD, and which hash inside the key
derivation (HKDF), the header MAC (HMAC) and the tagged hashes of the data path.

========  ===================  ===========  ==========================================
id        name                 AEAD         hash (HKDF, HMAC, tagged hash)
========  ===================  ===========  ==========================================
1         ``aes-256-gcm``      AES-256-GCM  SHA-256 (the default; what version-1 files use)
2         ``sm4-gcm``          SM4-GCM      SM3 (GB/T 32907, GB/T 32905; RFC 8998's AEAD)
========  ===================  ===========  ==========================================

Every versioned format that encrypts (record header, record body, key file) stores the suite
id, so a reader never needs a setting: an alliance that switched suites, or whose members
chose differently, opens both. Sizes do not depend on the suite (12-byte nonces, 16-byte
tags, 32-byte keys, MACs and hashes), so neither do the formats' layouts.

Both suites come from ``cryptography`` (OpenSSL); nothing here implements a primitive.
``cryptography`` has no SM4 ``AEAD`` class, so SM4-GCM goes through ``Cipher(SM4, GCM)``
behind the same two calls as ``AESGCM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.encoding import DOMAIN, encode_parts
from crypto.errors import FormatError

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32  # data keys and derived keys; an SM4 key is the first 16 bytes of its derivation


class Aead(Protocol):
    """The two calls of ``AESGCM``; ``decrypt`` raises ``InvalidTag`` on any tampering."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class Sm4Gcm:
    """SM4-GCM with a 12-byte nonce and a 16-byte tag appended, as ``AESGCM`` lays it out."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        encryptor = Cipher(self._key, modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        sealed = encryptor.update(data) + encryptor.finalize()
        return sealed + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < TAG_BYTES:
            raise InvalidTag()
        view = memoryview(data)  # no copy of a megabyte chunk to split off its tag
        decryptor = Cipher(self._key, modes.GCM(nonce, bytes(view[-TAG_BYTES:]))).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        # finalize() checks the tag before anything is returned to the caller.
        return decryptor.update(view[:-TAG_BYTES]) + decryptor.finalize()


@dataclass(frozen=True)
class Suite:
    suite_id: int
    name: str
    aead_name: str
    hash_name: str

    def _hash(self) -> hashes.HashAlgorithm:
        return hashes.SM3() if self.hash_name == "SM3" else hashes.SHA256()

    def aead(self, key: bytes) -> Aead:
        """The suite's AEAD under a 32-byte derived key (SM4 takes its first 16 bytes)."""
        if len(key) != KEY_BYTES:
            raise ValueError("an AEAD key is derived as 32 bytes")
        return Sm4Gcm(key[:16]) if self.aead_name == "SM4-GCM" else AESGCM(key)

    def hkdf(self, secret: bytes, salt: bytes, label: bytes) -> bytes:
        """HKDF with the suite's hash, 32 bytes, info = DOMAIN + label."""
        return HKDF(self._hash(), KEY_BYTES, salt=salt, info=DOMAIN + label).derive(secret)

    def mac(self, key: bytes, data: bytes) -> bytes:
        h = crypto_hmac.HMAC(key, self._hash())
        h.update(data)
        return h.finalize()

    def digest(self, data: bytes) -> bytes:
        h = hashes.Hash(self._hash())
        h.update(data)
        return h.finalize()

    def tagged_hash(self, tag: str, *parts: bytes | str | int) -> bytes:
        """``crypto.encoding.tagged_hash`` with the suite's hash (equal to it for SHA-256)."""
        return self.digest(_tag_prefix(self, tag) + encode_parts(parts))


@lru_cache(maxsize=256)
def _tag_prefix(suite: Suite, tag: str) -> bytes:
    digest = suite.digest(DOMAIN + tag.encode("ascii"))
    return digest + digest


AES_256_GCM_SHA256 = Suite(1, "aes-256-gcm", "AES-256-GCM", "SHA-256")
SM4_GCM_SM3 = Suite(2, "sm4-gcm", "SM4-GCM", "SM3")
DEFAULT_SUITE = AES_256_GCM_SHA256
SUITES: dict[int, Suite] = {s.suite_id: s for s in (AES_256_GCM_SHA256, SM4_GCM_SM3)}
SUITE_NAMES: tuple[str, ...] = tuple(s.name for s in SUITES.values())


def suite_by_id(suite_id: int, what: str) -> Suite:
    """The suite a format names; an unknown id is a :class:`FormatError` naming ``what``."""
    try:
        return SUITES[suite_id]
    except KeyError:
        known = ", ".join(f"{s.suite_id} ({s.name})" for s in SUITES.values())
        raise FormatError(f"{what}: unknown cipher suite id {suite_id} (known: {known})") from None


def suite_by_name(name: str | Suite) -> Suite:
    """A suite from its configured name (``aes-256-gcm`` or ``sm4-gcm``)."""
    if isinstance(name, Suite):
        return name
    for suite in SUITES.values():
        if suite.name == name.strip().lower():
            return suite
    raise ValueError(f"unknown cipher suite {name!r}: choose one of {', '.join(SUITE_NAMES)}")

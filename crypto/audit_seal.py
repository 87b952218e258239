"""Free text for the regulator's eyes only (break-glass reasons and justifications).

A gateway seals the text to the regulator's X25519 audit key (published on chain,
``AccessLog.auditKey``), HPKE-like: an ephemeral X25519 key, ECDH, HKDF-SHA256 bound to
both public keys, AES-256-GCM with the header and the kind of text as associated data.
The plaintext starts with a fresh 32-byte salt; the chain holds only

    commitment = HMAC-SHA256(key = salt, "alliance/break-glass/<kind>" || 0x00 || text)

which nobody without the salt can test guesses against (a dictionary of clinical phrases
opens an unsalted hash, not this), and which whoever decrypts can check.

Envelope (strict, version 1)::

    "ALRS" | u8 version | key_id[8] = SHA-256(recipient public key)[:8]
    | ephemeral public key[32] | nonce[12] | u32 len | AES-GCM(salt[32] | UTF-8 text) + tag
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError

MAGIC = b"ALRS"
VERSION = 1
KINDS = ("reason", "justification")
SALT_BYTES = 32
MAX_TEXT_BYTES = 4096
_INFO = b"alliance/break-glass/seal/v1"


@dataclass(frozen=True)
class Sealed:
    envelope: bytes  # kept off chain, with the access
    commitment: bytes  # 32 bytes, the only thing on chain


@dataclass(frozen=True)
class Opened:
    text: str
    salt: bytes

    def commitment(self, kind: str) -> bytes:
        return commit(self.salt, kind, self.text)


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> bytes:
    return hashlib.sha256(public_key).digest()[:8]


def commit(salt: bytes, kind: str, text: str) -> bytes:
    """The keyed commitment the chain holds (see the module docstring)."""
    _check_kind(kind)
    mac = hmac.HMAC(salt, hashes.SHA256())
    mac.update(f"alliance/break-glass/{kind}".encode() + b"\x00" + text.encode())
    return mac.finalize()


def seal(recipient_public: bytes, kind: str, text: str) -> Sealed:
    """Seal ``text`` to the regulator's audit key; the commitment goes on chain."""
    _check_kind(kind)
    body = text.encode()
    if not body or len(body) > MAX_TEXT_BYTES:
        raise ValueError(f"a {kind} is 1..{MAX_TEXT_BYTES} bytes of UTF-8")
    recipient = X25519PublicKey.from_public_bytes(recipient_public)
    ephemeral = X25519PrivateKey.generate()
    eph_public = public_bytes(ephemeral.public_key())
    nonce = os.urandom(12)
    header = _header(recipient_public, eph_public, nonce)
    aead = AESGCM(_derive(ephemeral.exchange(recipient), eph_public, recipient_public))
    salt = os.urandom(SALT_BYTES)
    ciphertext = aead.encrypt(nonce, salt + body, header + kind.encode())
    envelope = Writer().raw(header).blob(ciphertext).getvalue()
    return Sealed(envelope, commit(salt, kind, text))


def open_sealed(private_key: X25519PrivateKey, kind: str, envelope: bytes) -> Opened:
    """Decrypt an envelope with the regulator's private key; FormatError if malformed,
    DecryptionError for another key or a tampered envelope (or one of another kind)."""
    _check_kind(kind)
    r = Reader(envelope, "sealed break-glass text")
    r.expect(MAGIC)
    r.version(VERSION)
    kid = r.raw(8)
    eph_public = r.raw(32)
    nonce = r.raw(12)
    ciphertext = r.blob(SALT_BYTES + MAX_TEXT_BYTES + 16)
    r.finish()
    own_public = public_bytes(private_key.public_key())
    if not std_hmac.compare_digest(kid, key_id(own_public)):
        raise DecryptionError("sealed to another audit key")
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(eph_public))
        aead = AESGCM(_derive(shared, eph_public, own_public))
        plain = aead.decrypt(
            nonce, ciphertext, _header(own_public, eph_public, nonce) + kind.encode()
        )
    except (InvalidTag, ValueError):
        raise DecryptionError("sealed text does not open: tampered or of another kind") from None
    if len(plain) <= SALT_BYTES:
        raise FormatError("sealed break-glass text: empty")
    try:
        text = plain[SALT_BYTES:].decode()
    except UnicodeDecodeError:
        raise FormatError("sealed break-glass text: not UTF-8") from None
    return Opened(text, plain[:SALT_BYTES])


def _header(recipient_public: bytes, eph_public: bytes, nonce: bytes) -> bytes:
    return (
        Writer()
        .raw(MAGIC)
        .u8(VERSION)
        .raw(key_id(recipient_public))
        .raw(eph_public)
        .raw(nonce)
        .getvalue()
    )


def _derive(shared: bytes, eph_public: bytes, recipient_public: bytes) -> bytes:
    # Both public keys in the salt: the key is bound to this exchange, not to the secret only.
    return HKDF(hashes.SHA256(), 32, eph_public + recipient_public, _INFO).derive(shared)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of sealed text {kind!r}; expected one of {KINDS}")

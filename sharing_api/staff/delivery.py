"""Keys a rotation re-issued, kept at rest until their holders fetch them (``GET /keys``).

A re-issued key is secret; the index DB (SQLite or a PostgreSQL server) is not where
secrets are kept. Each key is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
the master key of the generation it belongs to, with its key id and holder as associated
data: only a gateway holding that generation's master key opens it (and that gateway could
mint the key anew anyway), and a row moved to another holder does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.authority import AttributeAuthority, UserKey
from crypto.errors import DecryptionError

_INFO = b"alliance/staff-key-delivery/v1"
_NONCE = 12


def _aead(authority: AttributeAuthority) -> AESGCM:
    secret = authority.to_bytes()  # the generation's master key: never leaves the gateway
    return AESGCM(HKDF(hashes.SHA256(), 32, None, _INFO).derive(secret))


def _aad(key_id: str, member: str, staff_id: str) -> bytes:
    return b"\x00".join(part.encode() for part in (key_id, member.lower(), staff_id))


def seal_key(authority: AttributeAuthority, key: UserKey, member: str, staff_id: str) -> bytes:
    nonce = os.urandom(_NONCE)
    aad = _aad(key.key_id.hex(), member, staff_id)
    return nonce + _aead(authority).encrypt(nonce, key.to_bytes(), aad)


def open_key(
    authority: AttributeAuthority, sealed: bytes, key_id: str, member: str, staff_id: str
) -> UserKey:
    try:
        raw = _aead(authority).decrypt(
            sealed[:_NONCE], sealed[_NONCE:], _aad(key_id, member, staff_id)
        )
    except InvalidTag:
        raise DecryptionError(f"re-issued key {key_id} does not open") from None
    return UserKey.from_bytes(raw)

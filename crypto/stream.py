"""Chunked streaming AEAD for record bodies (the STREAM construction over AES-256-GCM).

Body layout::

    "ALB1" | version u8 | chunk_size u32 | stream_id (16 bytes)      <- stream header
    chunk 0 | chunk 1 | ... | final chunk                            <- each = ciphertext + tag

Every chunk except the last carries exactly ``chunk_size`` plaintext bytes; the last carries
0..chunk_size bytes and is sealed with a "final" flag. The nonce is the 64-bit chunk counter
plus the final flag, and the stream header is every chunk's associated data. So a flipped
bit, a reordered, dropped or duplicated chunk, a truncation at any point (including exactly
at a chunk boundary) and extra bytes after the final chunk all fail authentication.

The key is derived per stream from the record's data key and the random ``stream_id`` with
HKDF-SHA256, so nonces never repeat under one key. Memory is O(chunk_size).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.encoding import DOMAIN, Reader, Writer
from crypto.errors import DecryptionError, FormatError

VERSION = 1
STREAM_ID_BYTES = 16
TAG_BYTES = 16
DEFAULT_CHUNK = 1 << 20
MIN_CHUNK, MAX_CHUNK = 1 << 10, 1 << 24
HEADER_BYTES = 4 + 1 + 4 + STREAM_ID_BYTES


@dataclass(frozen=True)
class StreamHeader:
    chunk_size: int
    stream_id: bytes

    def to_bytes(self) -> bytes:
        return Writer().raw(b"ALB1").u8(VERSION).u32(self.chunk_size).raw(self.stream_id).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamHeader:
        r = Reader(data, "record body")
        r.expect(b"ALB1")
        r.version(VERSION)
        chunk_size = r.u32()
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise FormatError(f"record body: chunk size {chunk_size} out of range")
        stream_id = r.raw(STREAM_ID_BYTES)
        r.finish()
        return cls(chunk_size=chunk_size, stream_id=stream_id)


def new_stream_id() -> bytes:
    return os.urandom(STREAM_ID_BYTES)


def _stream_cipher(data_key: bytes, stream_id: bytes) -> AESGCM:
    if len(data_key) != 32:
        raise ValueError("data key must be 32 bytes")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=stream_id, info=DOMAIN + b"stream-key"
    ).derive(data_key)
    return AESGCM(key)


def _nonce(counter: int, final: bool) -> bytes:
    return struct.pack(">QB3x", counter, 1 if final else 0)


def _read_exactly(src: BinaryIO, n: int) -> bytes:
    parts, remaining = [], n
    while remaining:
        block = src.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


def encrypt_stream(
    data_key: bytes,
    src: BinaryIO,
    dst: BinaryIO,
    stream_id: bytes,
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Encrypt ``src`` to ``dst``; return the number of plaintext bytes."""
    header = StreamHeader(chunk_size=chunk_size, stream_id=stream_id)
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk size must be in {MIN_CHUNK}..{MAX_CHUNK}")
    aad = header.to_bytes()
    cipher = _stream_cipher(data_key, stream_id)
    dst.write(aad)
    total, counter = 0, 0
    current = _read_exactly(src, chunk_size)
    while True:
        following = _read_exactly(src, chunk_size) if len(current) == chunk_size else b""
        final = not following
        dst.write(cipher.encrypt(_nonce(counter, final), current, aad))
        total += len(current)
        if final:
            return total
        current, counter = following, counter + 1


def decrypt_chunks(
    data_key: bytes, src: BinaryIO, expected_stream_id: bytes | None = None
) -> Iterator[bytes]:
    """Yield verified plaintext chunks. Each yielded chunk is authentic; a truncated or
    extended stream raises :class:`DecryptionError` after the last authentic chunk, so
    callers that need all-or-nothing output must write to a temporary and rename."""
    header = StreamHeader.from_bytes(_read_exactly(src, HEADER_BYTES))
    if expected_stream_id is not None and header.stream_id != expected_stream_id:
        raise DecryptionError("the record header belongs to another record body")
    aad = header.to_bytes()
    cipher = _stream_cipher(data_key, header.stream_id)
    sealed_size = header.chunk_size + TAG_BYTES
    counter = 0
    current = _read_exactly(src, sealed_size)
    while True:
        following = _read_exactly(src, sealed_size) if len(current) == sealed_size else b""
        final = not following
        if len(current) < TAG_BYTES:
            raise DecryptionError("record body is truncated")
        try:
            yield cipher.decrypt(_nonce(counter, final), current, aad)
        except InvalidTag:
            raise DecryptionError(
                f"record body chunk {counter} failed authentication "
                "(tampered, reordered or truncated, or the wrong key)"
            ) from None
        if final:
            return
        current, counter = following, counter + 1


def decrypt_stream(data_key: bytes, src: BinaryIO, dst: BinaryIO) -> int:
    total = 0
    for chunk in decrypt_chunks(data_key, src):
        dst.write(chunk)
        total += len(chunk)
    return total


def read_stream_header(src: BinaryIO) -> StreamHeader:
    return StreamHeader.from_bytes(_read_exactly(src, HEADER_BYTES))

"""Chunked streaming AEAD for record bodies (the STREAM construction over the record's
cipher suite: AES-256-GCM, or SM4-GCM in the national-cryptography suite, ``crypto.suite``).

Body layout::

    "ALB1" | version u8 (2) | suite u8 | chunk_size u32 | stream_id (16)  <- stream header
    chunk 0 | chunk 1 | ... | final chunk                  <- each = ciphertext + tag

Version 1 (still read, never written) has no suite byte and is AES-256-GCM with SHA-256.

Every chunk except the last carries exactly ``chunk_size`` plaintext bytes; the last carries
0..chunk_size bytes and is sealed with a "final" flag. The nonce is the 64-bit chunk counter
plus the final flag, and the stream header is every chunk's associated data. So a flipped
bit, a reordered, dropped or duplicated chunk, a truncation at any point (including exactly
at a chunk boundary) and extra bytes after the final chunk all fail authentication.

The key is derived per stream from the record's data key and the random ``stream_id`` with
HKDF over the suite's hash (SHA-256 or SM3), so nonces never repeat under one key. Memory is
O(chunk_size).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError
from crypto.suite import DEFAULT_SUITE, Aead, Suite, suite_by_id
from crypto.suite import TAG_BYTES as TAG_BYTES  # re-exported: the tests cut chunks by it

MAGIC = b"ALB1"
VERSION = 2  # written; version 1 (no suite byte, AES-256-GCM) is still read
STREAM_ID_BYTES = 16
DEFAULT_CHUNK = 1 << 20
MIN_CHUNK, MAX_CHUNK = 1 << 10, 1 << 24
HEADER_BYTES = 4 + 1 + 1 + 4 + STREAM_ID_BYTES
_HEADER_BYTES = {1: HEADER_BYTES - 1, 2: HEADER_BYTES}


@dataclass(frozen=True)
class StreamHeader:
    chunk_size: int
    stream_id: bytes
    suite: Suite = DEFAULT_SUITE
    version: int = VERSION  # kept: the header's own bytes are every chunk's associated data

    def __post_init__(self) -> None:
        if self.version not in _HEADER_BYTES or (self.version == 1 and self.suite != DEFAULT_SUITE):
            raise ValueError("a stream header is version 2, or version 1 in the AES suite")

    def to_bytes(self) -> bytes:
        w = Writer().raw(MAGIC).u8(self.version)
        if self.version >= 2:
            w.u8(self.suite.suite_id)
        return w.u32(self.chunk_size).raw(self.stream_id).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamHeader:
        r = Reader(data, "record body")
        r.expect(MAGIC)
        version = r.u8()
        if version not in _HEADER_BYTES:
            raise FormatError(f"record body: unsupported version {version} (expected 1 or 2)")
        suite = suite_by_id(r.u8(), "record body") if version >= 2 else DEFAULT_SUITE
        chunk_size = r.u32()
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise FormatError(f"record body: chunk size {chunk_size} out of range")
        stream_id = r.raw(STREAM_ID_BYTES)
        r.finish()
        return cls(chunk_size=chunk_size, stream_id=stream_id, suite=suite, version=version)


def new_stream_id() -> bytes:
    return os.urandom(STREAM_ID_BYTES)


def _stream_cipher(data_key: bytes, stream_id: bytes, suite: Suite) -> Aead:
    if len(data_key) != 32:
        raise ValueError("data key must be 32 bytes")
    return suite.aead(suite.hkdf(data_key, stream_id, b"stream-key"))


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
    suite: Suite = DEFAULT_SUITE,
) -> int:
    """Encrypt ``src`` to ``dst`` under ``suite``; return the number of plaintext bytes."""
    header = StreamHeader(chunk_size=chunk_size, stream_id=stream_id, suite=suite)
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk size must be in {MIN_CHUNK}..{MAX_CHUNK}")
    aad = header.to_bytes()
    cipher = _stream_cipher(data_key, stream_id, suite)
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
    data_key: bytes,
    src: BinaryIO,
    expected_stream_id: bytes | None = None,
    expected_suite: Suite | None = None,
) -> Iterator[bytes]:
    """Yield verified plaintext chunks. Each yielded chunk is authentic; a truncated or
    extended stream raises :class:`DecryptionError` after the last authentic chunk, so
    callers that need all-or-nothing output must write to a temporary and rename. The suite
    is the body's own (its header); ``expected_suite`` is what the record header says."""
    header = read_stream_header(src)
    if expected_stream_id is not None and header.stream_id != expected_stream_id:
        raise DecryptionError("the record header belongs to another record body")
    if expected_suite is not None and header.suite != expected_suite:
        raise DecryptionError(
            f"the record header names cipher suite {expected_suite.name}, "
            f"the body {header.suite.name}"
        )
    aad = header.to_bytes()
    cipher = _stream_cipher(data_key, header.stream_id, header.suite)
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
    """Read exactly the stream header (its length depends on its version)."""
    head = _read_exactly(src, 5)
    size = _HEADER_BYTES.get(head[4], HEADER_BYTES) if len(head) == 5 else HEADER_BYTES
    return StreamHeader.from_bytes(head + _read_exactly(src, size - len(head)))

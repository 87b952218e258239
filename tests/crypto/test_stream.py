"""Chunked AEAD: round trips, and every kind of tampering detected."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import DecryptionError, FormatError
from crypto.stream import HEADER_BYTES, TAG_BYTES, decrypt_stream, encrypt_stream, new_stream_id

KEY = os.urandom(32)
CHUNK = 1024


def _seal(data: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    encrypt_stream(key, io.BytesIO(data), out, new_stream_id(), chunk_size=CHUNK)
    return out.getvalue()


def _open(sealed: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    decrypt_stream(key, io.BytesIO(sealed), out)
    return out.getvalue()


@settings(max_examples=40)
@given(st.binary(max_size=5 * CHUNK + 7))
def test_round_trip_any_size(data: bytes) -> None:
    assert _open(_seal(data)) == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_every_flipped_byte_is_detected(size: int) -> None:
    sealed = _seal(os.urandom(size))
    for position in range(0, len(sealed), max(1, len(sealed) // 97)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises((DecryptionError, FormatError)):
            _open(bytes(tampered))


def test_truncation_at_every_chunk_boundary_and_inside() -> None:
    sealed = _seal(os.urandom(4 * CHUNK))  # four full chunks, the last one final
    sealed_chunk = CHUNK + TAG_BYTES
    cuts = [HEADER_BYTES + k * sealed_chunk for k in range(4)] + [len(sealed) - 1, 10]
    for cut in cuts:
        with pytest.raises((DecryptionError, FormatError)):
            _open(sealed[:cut])


def test_reordered_dropped_duplicated_and_extended_chunks() -> None:
    sealed = _seal(os.urandom(3 * CHUNK + 100))
    head, body = sealed[:HEADER_BYTES], sealed[HEADER_BYTES:]
    size = CHUNK + TAG_BYTES
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    variants = [
        [chunks[1], chunks[0], *chunks[2:]],
        [chunks[0], *chunks[2:]],
        [chunks[0], chunks[0], *chunks[1:]],
        [*chunks, chunks[-1]],
    ]
    for variant in variants:
        with pytest.raises(DecryptionError):
            _open(head + b"".join(variant))
    with pytest.raises(DecryptionError):
        _open(sealed + b"\x00")


def test_wrong_key_is_detected() -> None:
    with pytest.raises(DecryptionError):
        _open(_seal(b"record"), key=os.urandom(32))


def test_chunk_size_bounds_are_enforced_on_read() -> None:
    sealed = bytearray(_seal(b"x"))
    sealed[6:10] = (1 << 30).to_bytes(4, "big")  # after magic, version and suite
    with pytest.raises(FormatError, match="chunk size"):
        _open(bytes(sealed))

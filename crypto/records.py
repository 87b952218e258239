"""The safe recipe layer: encrypt and decrypt whole records (Fernet-style, above the hazmat).

A record is a header (``crypto.header``: the data key wrapped under a CP-ABE policy) and a
body (``crypto.stream``: chunked AES-256-GCM or SM4-GCM). Sealing takes the cipher suite
(``crypto.suite``, the alliance's setting; AES-256-GCM by default); opening reads it from the
header and checks that the body names the same one. They can travel apart (the header is small and
can be re-wrapped without touching the body) or together in a container file::

    "ALRC" | version u8 | header length u32 | header | body
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from typing import BinaryIO

from crypto.authority import AuthorityParams
from crypto.errors import FormatError
from crypto.header import ReaderKeys, RecordHeader, open_header, seal_header
from crypto.labels import UNLABELLED, SecurityLabels
from crypto.stream import DEFAULT_CHUNK, decrypt_chunks, encrypt_stream, new_stream_id
from crypto.suite import DEFAULT_SUITE, Suite

CONTAINER_MAGIC = b"ALRC"
CONTAINER_VERSION = 1
MAX_HEADER_BYTES = 1 << 24


def new_record(
    policy: str,
    params: Iterable[AuthorityParams],
    epoch: int | None = None,
    suite: Suite = DEFAULT_SUITE,
    labels: SecurityLabels = UNLABELLED,
) -> tuple[RecordHeader, bytes]:
    """A fresh data key sealed under ``policy``: (header, data key). The header exists before
    the body, so a container can be written in one pass. ``labels``: DS4P, in the header."""
    data_key = os.urandom(32)
    header = seal_header(data_key, new_stream_id(), policy, params, epoch, suite, labels=labels)
    return header, data_key


def encrypt_body(
    header: RecordHeader,
    data_key: bytes,
    src: BinaryIO,
    body_dst: BinaryIO,
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Stream ``src`` into ``body_dst`` in the header's suite; returns the plaintext size."""
    return encrypt_stream(data_key, src, body_dst, header.stream_id, chunk_size, header.suite)


def encrypt_record(
    src: BinaryIO,
    body_dst: BinaryIO,
    policy: str,
    params: Iterable[AuthorityParams],
    epoch: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    suite: Suite = DEFAULT_SUITE,
    labels: SecurityLabels = UNLABELLED,
) -> RecordHeader:
    """Stream ``src`` into ``body_dst`` encrypted; return the header that opens it."""
    header, data_key = new_record(policy, params, epoch, suite, labels)
    encrypt_body(header, data_key, src, body_dst, chunk_size)
    return header


def decrypt_record(header: RecordHeader, body_src: BinaryIO, dst: BinaryIO, key: ReaderKeys) -> int:
    """Decrypt a body with its header; returns the plaintext size. Each chunk written is
    authentic; a truncated body raises after the last good chunk (write to a temporary)."""
    data_key = open_header(header, key)
    total = 0
    chunks = decrypt_chunks(data_key, body_src, header.stream_id, header.suite)
    for chunk in chunks:
        dst.write(chunk)
        total += len(chunk)
    return total


def write_container(header: RecordHeader, dst: BinaryIO) -> None:
    """Write the container prefix; the caller then writes the body."""
    raw = header.to_bytes()
    dst.write(CONTAINER_MAGIC + struct.pack(">BI", CONTAINER_VERSION, len(raw)) + raw)


def read_container_header(src: BinaryIO) -> RecordHeader:
    """Read the container prefix; ``src`` is left at the start of the body."""
    prefix = src.read(9)
    if len(prefix) != 9 or prefix[:4] != CONTAINER_MAGIC:
        raise FormatError("not an AllianceLedger record container")
    version, length = struct.unpack(">BI", prefix[4:])
    if version != CONTAINER_VERSION:
        raise FormatError(f"record container: unsupported version {version}")
    if length > MAX_HEADER_BYTES:
        raise FormatError("record container: header too large")
    raw = src.read(length)
    if len(raw) != length:
        raise FormatError("record container: truncated header")
    return RecordHeader.from_bytes(raw)

"""Canonical byte encodings: tagged hashing, length-prefixed fields, strict readers.

Hash inputs are never plain concatenations: every part is length-prefixed and every hash is
domain-separated by a tag (BIP-340-style tagged SHA-256), so two different tuples of inputs
can never collide by re-splitting their bytes (the flaw FACTS notes in Charm's FAME).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from functools import lru_cache

from crypto.errors import FormatError

# Everything this project hashes or serializes is namespaced under this prefix.
DOMAIN = b"allianceledger/v1/"


def encode_parts(parts: Iterable[bytes | str | int]) -> bytes:
    """Injective encoding of a tuple: each part as type byte + 4-byte length + bytes."""
    out = bytearray()
    for part in parts:
        if isinstance(part, bool):
            raise TypeError("booleans are not encodable parts")
        if isinstance(part, int):
            if part < 0:
                raise ValueError("negative integers are not encodable parts")
            raw, kind = part.to_bytes((part.bit_length() + 7) // 8 or 1, "big"), b"i"
        elif isinstance(part, str):
            raw, kind = part.encode("utf-8"), b"s"
        else:
            raw, kind = bytes(part), b"b"
        out += kind + struct.pack(">I", len(raw)) + raw
    return bytes(out)


@lru_cache(maxsize=256)
def _tag_prefix(tag: str) -> bytes:
    digest = hashlib.sha256(DOMAIN + tag.encode("ascii")).digest()
    return digest + digest


def tagged_hash(tag: str, *parts: bytes | str | int) -> bytes:
    """SHA-256(SHA-256(T) || SHA-256(T) || encode_parts(parts)), T = DOMAIN + tag."""
    return hashlib.sha256(_tag_prefix(tag) + encode_parts(parts)).digest()


class Writer:
    """Builds a binary object from fixed-width integers and length-prefixed fields."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def u8(self, value: int) -> Writer:
        self._buf += struct.pack(">B", value)
        return self

    def u16(self, value: int) -> Writer:
        self._buf += struct.pack(">H", value)
        return self

    def u32(self, value: int) -> Writer:
        self._buf += struct.pack(">I", value)
        return self

    def u64(self, value: int) -> Writer:
        self._buf += struct.pack(">Q", value)
        return self

    def raw(self, data: bytes) -> Writer:
        self._buf += data
        return self

    def blob(self, data: bytes) -> Writer:
        """A field of up to 4 GiB with a 4-byte length."""
        self._buf += struct.pack(">I", len(data)) + data
        return self

    def text(self, value: str) -> Writer:
        return self.blob(value.encode("utf-8"))

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class Reader:
    """Strict reader: every read checks bounds; :meth:`finish` rejects trailing bytes."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.what = what

    def _take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise FormatError(f"{self.what}: truncated (needed {n} bytes at offset {self._pos})")
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk

    @property
    def offset(self) -> int:
        """How many bytes have been read so far."""
        return self._pos

    def u8(self) -> int:
        return int(struct.unpack(">B", self._take(1))[0])

    def u16(self) -> int:
        return int(struct.unpack(">H", self._take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def blob(self, max_len: int) -> bytes:
        length = self.u32()
        if length > max_len:
            raise FormatError(f"{self.what}: field of {length} bytes exceeds limit {max_len}")
        return self._take(length)

    def text(self, max_len: int) -> str:
        raw = self.blob(max_len)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{self.what}: text field is not UTF-8") from exc

    def expect(self, magic: bytes) -> None:
        if self._take(len(magic)) != magic:
            raise FormatError(f"{self.what}: wrong magic (not a {self.what})")

    def version(self, supported: int) -> int:
        version = self.u8()
        if version != supported:
            raise FormatError(f"{self.what}: unsupported version {version} (expected {supported})")
        return version

    def count(self, max_count: int, label: str) -> int:
        n = self.u32()
        if n > max_count:
            raise FormatError(f"{self.what}: {n} {label} exceeds limit {max_count}")
        return n

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise FormatError(f"{self.what}: {len(self._data) - self._pos} trailing bytes")

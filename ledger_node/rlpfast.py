"""A small, strict RLP codec for the hot paths (tx decoding, receipt roots).

pyrlp's generic sedes machinery costs more per transaction than signature recovery; this
handles only bytes, non-negative ints (encode) and nested lists, and rejects non-canonical
encodings so one payload has exactly one byte form.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Item: TypeAlias = bytes | list["Item"]


class RlpError(ValueError):
    """Malformed or non-canonical RLP."""


def _length(data: bytes, pos: int, n: int) -> int:
    if n == 0 or pos + n > len(data) or data[pos] == 0:
        raise RlpError("bad RLP length")
    value = int.from_bytes(data[pos : pos + n], "big")
    if value < 56:
        raise RlpError("non-canonical RLP length")
    return value


def _item(data: bytes, pos: int) -> tuple[Item, int]:
    """Decode the item at ``pos``; return it and the position after it."""
    if pos >= len(data):
        raise RlpError("truncated RLP")
    b = data[pos]
    if b < 0x80:
        return data[pos : pos + 1], pos + 1
    if b < 0xB8:
        n = b - 0x80
        end = pos + 1 + n
        if end > len(data):
            raise RlpError("truncated RLP string")
        if n == 1 and data[pos + 1] < 0x80:
            raise RlpError("non-canonical RLP byte")
        return data[pos + 1 : end], end
    if b < 0xC0:
        ll = b - 0xB7
        n = _length(data, pos + 1, ll)
        start = pos + 1 + ll
        if start + n > len(data):
            raise RlpError("truncated RLP string")
        return data[start : start + n], start + n
    if b < 0xF8:
        start, end = pos + 1, pos + 1 + (b - 0xC0)
    else:
        ll = b - 0xF7
        start = pos + 1 + ll
        end = start + _length(data, pos + 1, ll)
    if end > len(data):
        raise RlpError("truncated RLP list")
    out: list[Item] = []
    p = start
    while p < end:
        it, p = _item(data, p)
        out.append(it)
    if p != end:
        raise RlpError("RLP list length mismatch")
    return out, end


def decode(data: bytes) -> Item:
    item, end = _item(data, 0)
    if end != len(data):
        raise RlpError("trailing bytes after RLP item")
    return item


def list_offsets(data: bytes) -> tuple[int, list[int]]:
    """For a top-level list: the payload start and each element's start offset."""
    b = data[0]
    if b < 0xC0:
        raise RlpError("not an RLP list")
    start = pos = 1 if b < 0xF8 else 1 + (b - 0xF7)
    offsets = []
    while pos < len(data):
        offsets.append(pos)
        _, pos = _item(data, pos)
    return start, offsets


def _prefix(n: int, short: int) -> bytes:
    if n < 56:
        return bytes([short + n])
    nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([short + 55 + len(nb)]) + nb


def list_header(payload_len: int) -> bytes:
    return _prefix(payload_len, 0xC0)


def encode(obj: Any) -> bytes:
    t = type(obj)
    if t is bytes:
        if len(obj) == 1 and obj[0] < 0x80:
            return obj  # type: ignore[no-any-return]
        n = len(obj)
        return (bytes([0x80 + n]) if n < 56 else _prefix(n, 0x80)) + obj  # type: ignore[no-any-return]
    if t is list:
        body = b"".join([encode(x) for x in obj])
        n = len(body)
        return (bytes([0xC0 + n]) if n < 56 else _prefix(n, 0xC0)) + body
    if t is int:
        if obj < 0:
            raise RlpError("negative integer")
        if obj == 0:
            return b"\x80"
        return encode(obj.to_bytes((obj.bit_length() + 7) // 8, "big"))
    if isinstance(obj, (bytes, bytearray)):
        return encode(bytes(obj))
    raise RlpError(f"cannot RLP-encode {type(obj).__name__}")

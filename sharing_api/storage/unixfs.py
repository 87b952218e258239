"""Kubo-compatible CIDs for files, computed locally and incrementally.

This mirrors ``ipfs add`` with its defaults: fixed 256 KiB chunks, the balanced layout with at
most 174 links per node, dag-pb nodes carrying unixfs ``File`` data, sha2-256 multihashes.

- CIDv0 (the default): leaves are dag-pb/unixfs nodes; the CID is base58btc ``Qm...``.
- CIDv1 (``ipfs add --cid-version=1``, which implies raw leaves): leaves are raw blocks
  (codec 0x55), inner nodes dag-pb (0x70); a one-chunk file is its raw leaf; base32 ``b...``.

Only the inner nodes are kept (one per 174 leaves, ~8 KiB each, so ~0.02% of the file):
storing them lets a reader verify every 256 KiB block against the CID before handing it out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import base58

CHUNK_SIZE = 262_144
MAX_LINKS = 174
CODEC_DAG_PB = 0x70
CODEC_RAW = 0x55
_SHA2_256 = 0x12
_UNIXFS_FILE = 2


class InvalidCIDError(ValueError):
    """The text is not a CID this store can address (CIDv0/v1, sha2-256, dag-pb or raw)."""


# --- protobuf and varint primitives (dag-pb and unixfs are tiny proto2 messages) ---


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or oversized varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) for varint and length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated protobuf field")
            yield number, buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


# --- CIDs ---


@dataclass(frozen=True)
class CID:
    version: int
    codec: int
    digest: bytes  # sha2-256 digest (32 bytes)

    @property
    def multihash(self) -> bytes:
        return bytes((_SHA2_256, 32)) + self.digest

    @property
    def raw(self) -> bytes:
        """The binary CID (what dag-pb links hold)."""
        if self.version == 0:
            return self.multihash
        return _varint(1) + _varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return base58.b58encode(self.multihash).decode()
        return "b" + base64.b32encode(self.raw).decode().lower().rstrip("=")

    @classmethod
    def parse(cls, text: str) -> CID:
        """Parse a CID string; anything else raises InvalidCIDError."""
        try:
            if len(text) == 46 and text.startswith("Qm"):
                mh = base58.b58decode(text)
                return cls(0, CODEC_DAG_PB, _digest(mh))
            raw = b""
            if text.startswith("b") and len(text) > 8:
                body = text[1:].upper()
                raw = base64.b32decode(body + "=" * (-len(body) % 8))
            elif text.startswith("z") and len(text) > 8:  # base58btc, e.g. older js-ipfs output
                raw = base58.b58decode(text[1:])
            if raw:
                version, pos = _read_varint(raw, 0)
                codec, pos = _read_varint(raw, pos)
                if version == 1 and codec in (CODEC_DAG_PB, CODEC_RAW):
                    return cls(1, codec, _digest(raw[pos:]))
        except (ValueError, TypeError):
            pass
        raise InvalidCIDError(f"not a supported CID: {text[:80]!r}")

    @classmethod
    def from_raw(cls, raw: bytes, version: int) -> CID:
        """Parse a binary CID as found in a dag-pb link."""
        if version == 0 and raw[:1] == bytes((_SHA2_256,)):
            return cls(0, CODEC_DAG_PB, _digest(raw))
        ver, pos = _read_varint(raw, 0)
        codec, pos = _read_varint(raw, pos)
        if ver != 1 or codec not in (CODEC_DAG_PB, CODEC_RAW):
            raise ValueError("unsupported link CID")
        return cls(1, codec, _digest(raw[pos:]))


def _digest(multihash: bytes) -> bytes:
    if len(multihash) != 34 or multihash[0] != _SHA2_256 or multihash[1] != 32:
        raise ValueError("only sha2-256 multihashes are supported")
    return multihash[2:]


# --- nodes ---


@lru_cache(maxsize=64)
def leaf_envelope(size: int) -> tuple[bytes, bytes]:
    """(prefix, suffix) around a chunk of ``size`` bytes forming its dag-pb/unixfs leaf.

    Hashing prefix + chunk + suffix incrementally avoids copying the chunk.
    """
    unixfs_head = _field_varint(1, _UNIXFS_FILE)
    if size:
        unixfs_head += _varint(2 << 3 | 2) + _varint(size)
    unixfs_tail = _field_varint(3, size)
    unixfs_len = len(unixfs_head) + size + len(unixfs_tail)
    prefix = _varint(1 << 3 | 2) + _varint(unixfs_len) + unixfs_head
    return prefix, unixfs_tail


def leaf_cid(chunk: bytes | memoryview, version: int) -> CID:
    if version == 1:
        return CID(1, CODEC_RAW, hashlib.sha256(chunk).digest())
    prefix, suffix = leaf_envelope(len(chunk))
    h = hashlib.sha256(prefix)
    h.update(chunk)
    h.update(suffix)
    return CID(0, CODEC_DAG_PB, h.digest())


@dataclass(frozen=True)
class Link:
    cid: CID
    tsize: int  # bytes of the child's block plus all blocks below it
    filesize: int  # file bytes under the child


def inner_node(links: list[Link]) -> bytes:
    """Serialize a dag-pb node over ``links`` (links first, then data: dag-pb's canonical order)."""
    out = bytearray()
    for link in links:
        body = _field_bytes(1, link.cid.raw) + _field_bytes(2, b"") + _field_varint(3, link.tsize)
        out += _field_bytes(2, body)
    unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, sum(lk.filesize for lk in links))
    for link in links:
        unixfs += _field_varint(4, link.filesize)
    out += _field_bytes(1, unixfs)
    return bytes(out)


@dataclass(frozen=True)
class ParsedNode:
    links: list[tuple[CID, int]]  # (child CID, file bytes under it)
    filesize: int
    data: bytes  # file bytes held in this node itself (leaves)


def parse_node(block: bytes, version: int) -> ParsedNode:
    """Parse a dag-pb/unixfs file node; malformed input raises ValueError."""
    link_cids: list[CID] = []
    unixfs = b""
    for number, value in _fields(block):
        if number == 2 and isinstance(value, bytes):
            raw = next((v for n, v in _fields(value) if n == 1 and isinstance(v, bytes)), None)
            if raw is None:
                raise ValueError("dag-pb link without a hash")
            link_cids.append(CID.from_raw(raw, version))
        elif number == 1 and isinstance(value, bytes):
            unixfs = value
    kind, data, filesize, sizes = -1, b"", 0, []
    for number, value in _fields(unixfs):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            data = value
        elif number == 3 and isinstance(value, int):
            filesize = value
        elif number == 4 and isinstance(value, int):
            sizes.append(value)
    if kind not in (0, _UNIXFS_FILE) or len(sizes) != len(link_cids):
        raise ValueError("not a unixfs file node")
    return ParsedNode(list(zip(link_cids, sizes, strict=True)), filesize, data)


def block_cid(block: bytes, version: int) -> CID:
    return CID(version, CODEC_DAG_PB, hashlib.sha256(block).digest())


# --- the streaming builder ---


@dataclass
class DagResult:
    cid: CID
    size: int
    inner: dict[str, bytes] = field(default_factory=dict)  # str(CID) -> inner node block


class DagBuilder:
    """Feed 256 KiB chunks in order (only the last may be shorter); ``finish`` gives the root.

    Memory: one pending list of <= 174 links per tree level, plus the inner node blocks.
    """

    def __init__(self, version: int = 0) -> None:
        if version not in (0, 1):
            raise ValueError("CID version must be 0 or 1")
        self.version = version
        self._levels: list[list[Link]] = [[]]
        self._inner: dict[str, bytes] = {}
        self._size = 0
        self._finished = False

    def add_leaf(self, cid: CID, chunk_len: int) -> None:
        """Add a leaf whose CID was computed elsewhere (e.g. in a hashing thread)."""
        if self._finished:
            raise RuntimeError("builder already finished")
        if self.version == 1:
            tsize = chunk_len
        else:
            prefix, suffix = leaf_envelope(chunk_len)
            tsize = len(prefix) + chunk_len + len(suffix)
        self._size += chunk_len
        self._push(0, Link(cid, tsize, chunk_len))

    def add_chunk(self, chunk: bytes | memoryview) -> None:
        self.add_leaf(leaf_cid(chunk, self.version), len(chunk))

    def _push(self, level: int, link: Link) -> None:
        while len(self._levels) <= level:
            self._levels.append([])
        self._levels[level].append(link)
        if len(self._levels[level]) == MAX_LINKS:
            # A full node never grows: seal it now so memory stays bounded.
            self._push(level + 1, self._seal(self._levels[level]))
            self._levels[level] = []

    def _seal(self, links: list[Link]) -> Link:
        block = inner_node(links)
        cid = block_cid(block, self.version)
        self._inner[str(cid)] = block
        return Link(
            cid, len(block) + sum(lk.tsize for lk in links), sum(lk.filesize for lk in links)
        )

    def finish(self) -> DagResult:
        if self._finished:
            raise RuntimeError("builder already finished")
        if self._size == 0 and not any(self._levels):
            self.add_chunk(b"")  # an empty file is one empty leaf
        self._finished = True
        level = 0
        while True:
            pending = self._levels[level]
            higher = any(self._levels[level + 1 :])
            if not higher and len(pending) == 1:
                # Every leaf sits at the same depth (Kubo's balanced layout), so a partial
                # node below the top is sealed even when it holds a single link.
                return DagResult(pending[0].cid, self._size, self._inner)
            if pending:
                self._levels[level] = []
                self._push(level + 1, self._seal(pending))
            level += 1


def compute_cid(data: bytes, version: int = 0) -> CID:
    """The CID of an in-memory byte string (tests, small blobs)."""
    builder = DagBuilder(version)
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_SIZE):
        builder.add_chunk(view[start : start + CHUNK_SIZE])
    return builder.finish().cid

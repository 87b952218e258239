"""Verify a blob block by block while it streams.

The root CID is trusted (it comes from the chain); inner nodes are fetched, hashed and
checked against their parent's link; each leaf's bytes are read from the data stream,
hashed and compared with its link *before* they are yielded. Data is therefore handed out
one verified 256 KiB block at a time in constant memory, and the last block is held back
until the total size and SHA-256 have been checked, so reaching the end of the iterator
without an exception means every byte matched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from sharing_api.storage.errors import IntegrityError
from sharing_api.storage.hashing import BackgroundSha256
from sharing_api.storage.unixfs import (
    CHUNK_SIZE,
    CID,
    CODEC_RAW,
    ParsedNode,
    block_cid,
    leaf_envelope,
    parse_node,
)

# fetch_inner(cid) -> the node's block, or None for "that is a leaf: read it from the data".
FetchInner = Callable[[CID], bytes | None]
_MAX_LEAF = 4 * CHUNK_SIZE  # a leaf bigger than this is not one we wrote: refuse to buffer it


class _Reader:
    """Exact-length reads over an iterator of arbitrarily sized chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        if not self._buf:
            for chunk in self._chunks:
                if len(chunk) == n:
                    return chunk  # fast path: the source already reads in leaf-sized pieces
                self._buf += chunk
                break
        while len(self._buf) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def at_eof(self) -> bool:
        return not self._buf and not any(True for c in self._chunks if c)


def verified_chunks(
    cid_text: str,
    fetch_inner: FetchInner,
    data: Iterator[bytes],
    expected_size: int | None = None,
    expected_sha256: str | None = None,
) -> Iterator[bytes]:
    root = CID.parse(cid_text)
    reader = _Reader(data)
    sha = BackgroundSha256()

    def fail(detail: str) -> IntegrityError:
        return IntegrityError(cid_text, detail)

    def node(cid: CID) -> ParsedNode | None:
        if cid.codec == CODEC_RAW:
            return None
        block = fetch_inner(cid)
        if block is None:
            return None
        if block_cid(block, cid.version) != cid:
            raise fail(f"inner node {cid} does not match its hash")
        try:
            return parse_node(block, cid.version)
        except ValueError as exc:
            raise fail(f"malformed node {cid}: {exc}") from None

    def leaf(cid: CID, size: int | None) -> bytes:
        want = size if size is not None else expected_size
        if want is None or want > _MAX_LEAF:
            raise fail(f"leaf {cid} has no plausible size")
        chunk = reader.read(want)
        if len(chunk) != want:
            raise fail("stream ended early")
        if cid.codec == CODEC_RAW:
            digest = hashlib.sha256(chunk).digest()
        else:
            prefix, suffix = leaf_envelope(len(chunk))
            h = hashlib.sha256(prefix)
            h.update(chunk)
            h.update(suffix)
            digest = h.digest()
        if digest != cid.digest:
            raise fail(f"block {cid} does not match its hash")
        return chunk

    def walk(cid: CID, size: int | None, depth: int, leaf_depth: int) -> Iterator[bytes]:
        if depth == leaf_depth:
            yield leaf(cid, size)
            return
        parsed = node(cid)
        if parsed is None or not parsed.links:
            raise fail(f"expected an inner node at {cid}")
        if size is not None and parsed.filesize != size:
            raise fail(f"node {cid} size disagrees with its parent")
        for child, child_size in parsed.links:
            yield from walk(child, child_size, depth + 1, leaf_depth)

    # Leaves all sit at one depth (balanced layout): find it down the leftmost path.
    leaf_depth = 0
    current = node(root)
    if current is not None and not current.links and expected_size is None:
        expected_size = current.filesize  # a one-block file whose block the backend served
    while current is not None and current.links:
        leaf_depth += 1
        current = node(current.links[0][0])

    total = 0
    held: bytes | None = None
    try:
        for chunk in walk(root, None, 0, leaf_depth):
            sha.update(chunk)
            total += len(chunk)
            if held is not None:
                yield held
            held = chunk
        digest = sha.hexdigest()
    finally:
        sha.close()
    if not reader.at_eof():
        raise fail("the stored blob has extra bytes after the end")
    if expected_size is not None and total != expected_size:
        raise fail(f"size {total} differs from the recorded {expected_size}")
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise fail("SHA-256 differs from the recorded digest")
    if held is not None:
        yield held

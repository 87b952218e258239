"""A large deterministic byte stream that exists only while it is read."""

from __future__ import annotations

import hashlib
import io
import random


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes from ``seed``; non-seekable, like a pipe."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self._left = size
        self._rng = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._left, 1 << 20)
        buffer[:n] = self._rng.randbytes(n)
        self._left -= n
        return n


def generated_sha256(size: int, seed: int = 0) -> str:
    sha = hashlib.sha256()
    stream = GeneratedStream(size, seed)
    while chunk := stream.read(1 << 20):
        sha.update(chunk)
    return sha.hexdigest()

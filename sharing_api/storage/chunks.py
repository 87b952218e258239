"""A file view of a chunk iterator (a store's verifying ``get``), for code that reads files:
``put`` streams it in constant memory, a container's header parses from its first bytes."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def chunk_reader(chunks: Iterable[bytes]) -> io.BufferedReader:
    return io.BufferedReader(_ChunkReader(chunks), buffer_size=256 * 1024)

"""Whole-blob SHA-256 on a second core.

Every put and get hashes each byte twice (the 256 KiB leaf hash for the CID and the
whole-blob SHA-256). hashlib releases the GIL on large updates, so running the whole-blob
digest in one helper thread overlaps it with the leaf hashing and I/O of the caller; that
is what keeps the local store close to the single-hash raw-disk baseline.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

# The first bytes are hashed inline: for small blobs starting a thread costs more than it
# saves. Inline updates finish before any queued one, so the order is kept.
_INLINE_BYTES = 2 * 1024 * 1024
_IN_FLIGHT = 4  # chunks queued at most: bounds memory to a few chunks


class BackgroundSha256:
    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self._seen = 0

    def update(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        if self._pool is None and self._seen <= _INLINE_BYTES:
            self._sha.update(chunk)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        # One worker runs the updates in submission order.
        self._pending.append(self._pool.submit(self._sha.update, chunk))
        while len(self._pending) > _IN_FLIGHT:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        self._drain()
        return self._sha.hexdigest()

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self) -> None:
        """Stop the helper thread (also on an abandoned stream)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

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

_THREAD_MIN = 64 * 1024  # below this a thread hop costs more than it saves
_IN_FLIGHT = 4  # chunks queued at most: bounds memory to a few chunks


class BackgroundSha256:
    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def update(self, chunk: bytes) -> None:
        if self._pool is None and len(chunk) >= _THREAD_MIN:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        if self._pool is None:
            self._sha.update(chunk)
            return
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

"""The registry client's disk cache: manifests and config blobs by digest, tag lists for a while.

Each diskcache write is its own SQLite transaction, about 0.13 ms of CPU during a crawl: as much as the
request that fetched the entry. Inside `batched()` writes wait in memory and go to disk a few hundred
per transaction; reads see them meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from diskcache import Cache

BATCH = 256  # entries per transaction; bounds what waits in memory (a few hundred kB of manifests)


class ContentCache:
    """A diskcache, with writes batched while a crawl runs; safe to share between threads."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[object, float | None]] = {}  # key -> (value, expires at)
        self._batching = 0
        self._writing = threading.Lock()  # one flush at a time

    def get(self, key: str) -> object:
        """The value under key, written or still pending; None when absent (or expired)."""
        with self._lock:
            entry = self._pending.get(key)
        if entry is None:
            return self._cache.get(key)
        value, expires_at = entry
        return value if expires_at is None or expires_at > time.time() else None

    def set(self, key: str, value: object, *, expire: float | None = None) -> None:
        """Store value (for `expire` seconds, or for good); at once, or with the batch."""
        with self._lock:
            if not self._batching:
                direct = True
            else:
                direct = False
                self._pending[key] = (value, None if expire is None else time.time() + expire)
                full = len(self._pending) >= BATCH
        if direct:
            self._cache.set(key, value, expire=expire)
        elif full:
            self.flush(wait=False)

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Batch writes until the block ends (nested blocks flush when the outermost one ends)."""
        with self._lock:
            self._batching += 1
        try:
            yield
        finally:
            with self._lock:
                self._batching -= 1
            self.flush()

    def flush(self, *, wait: bool = True) -> None:
        """Write the pending entries in one transaction; they stay readable from memory until written.

        wait=False returns at once when another thread is flushing already (it or the next flush will
        take these entries too).
        """
        if not self._writing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                pending = list(self._pending.items())
            if not pending:
                return
            with self._cache.transact():
                for key, (value, expires_at) in pending:
                    expire = None if expires_at is None else max(expires_at - time.time(), 0.001)
                    self._cache.set(key, value, expire=expire)
            with self._lock:
                for key, entry in pending:
                    if self._pending.get(key) is entry:
                        del self._pending[key]
        finally:
            self._writing.release()

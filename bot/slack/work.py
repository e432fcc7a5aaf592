"""Bounded background work: the listeners ack at once and hand the slow part (LLM, Web API) to a pool.

A full pool refuses new work instead of queueing it forever: a user is better served by "busy, try again"
in a second than by an answer ten minutes late. Each pool is separate so a flood of questions never
delays an approval click.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class WorkPool:
    """A thread pool with a cap on running plus queued tasks."""

    def __init__(self, *, name: str, workers: int, queue: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"regent-{name}")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._name = name

    def submit(self, task: Callable[[], Any]) -> bool:
        """Run task in the background; False (and nothing runs) when the pool is full."""
        if not self._slots.acquire(blocking=False):
            log.warning("%s pool is full; refusing work", self._name)
            return False
        try:
            future: Future[None] = self._pool.submit(self._run, task)
        except RuntimeError:  # shut down
            self._slots.release()
            return False
        future.add_done_callback(lambda _f: self._slots.release())
        return True

    def _run(self, task: Callable[[], Any]) -> None:
        try:
            task()
        except Exception:  # tasks report their own errors; this is the last line so a worker never dies
            log.exception("%s task failed", self._name)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting work; with wait, finish what is running and queued."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

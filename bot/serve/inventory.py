"""Scheduled and event-driven crawls in `regent serve` (the `inventory:` settings).

On `inventory.crawl_cron` the scheduler crawls. Registries that send notifications (any of their events
arrived) are refreshed in just the repositories their pushes and deletes named since the newest snapshot
(bot/serve/crawls.py); the rest are crawled in full. Every `verify_hours`, and at the first scheduled
run after a start (events may have been lost while Regent was down), the run is a full crawl that also
reports what changed without a notification. A push or delete notification wakes the scheduler, which
waits `event_delay_seconds` for more of them and refreshes just those repositories.

Without `crawl_cron` nothing is scheduled and notifications trigger nothing: `regent serve` then crawls
only for the digest, as before. The first run comes at once when the newest snapshot is older than one
cron interval (or there is none), else at the next firing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.app import App
from bot.schedule import CronSchedule, parse_cron
from bot.serve.crawls import InventoryRunner, RunReport
from tools.events.models import RegistryEvent
from tools.inventory.refresh_log import RefreshLog

log = logging.getLogger(__name__)


class InventoryService:
    """The crawl scheduler thread; `notify` is the events receiver's hook, `close` stops it promptly."""

    def __init__(self, runtime: App, *, schedule: CronSchedule, notifications: bool) -> None:
        self._runtime = runtime
        self._settings = runtime.settings.inventory
        self._schedule = schedule
        self._on_events = notifications and self._settings.refresh_on_events
        self._stopping = threading.Event()  # also cancels a crawl in progress
        self._log = RefreshLog(runtime.db_path)
        self.runner = InventoryRunner(runtime, refresh_log=self._log, cancel=self._stopping)
        self._cond = threading.Condition()
        self._pending_since: float | None = None  # monotonic time of the first unhandled notification
        self._last_full: datetime | None = None  # unknown after a start: the first scheduled run verifies
        self._thread = threading.Thread(target=self._run, name="regent-inventory", daemon=True)
        self.reports: list[RunReport] = []  # the last few, for logs and tests

    @property
    def interval(self) -> timedelta:
        """The time between two firings of the cron (around now)."""
        first = self._schedule.next_after(self._runtime.clock())
        return self._schedule.next_after(first) - first

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop: a crawl in progress skips its remaining tags and saves nothing; then close the log."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._log.close()

    def notify(self, events: Sequence[RegistryEvent]) -> None:
        """New notifications stored: a manifest push or delete schedules a refresh of its repository."""
        if not self._on_events:
            return
        if not any(e.kind == "manifest" and e.action in ("push", "delete") for e in events):
            return
        with self._cond:
            if self._pending_since is None:
                self._pending_since = time.monotonic()
            self._cond.notify_all()

    def run_once(self, *, scheduled: bool) -> RunReport:
        """One run now: a verification when due, else a refresh (with notifications) or a full crawl."""
        if scheduled and (not self._on_events or self._verification_due()):
            report = self.runner.full(verify=self._on_events and self._runtime.latest_snapshot() is not None)
            if report.snapshot is not None:
                self._last_full = report.snapshot.taken_at
        else:
            report = self.runner.refresh(scheduled=scheduled)
        self.reports = [*self.reports[-19:], report]
        return report

    def _verification_due(self) -> bool:
        if self._last_full is None:
            return True
        return self._runtime.clock() - self._last_full >= timedelta(hours=self._settings.verify_hours)

    def _run(self) -> None:
        due = self._first_run()
        while True:
            job, due = self._wait(due)
            if job is None:
                return
            try:
                self.run_once(scheduled=job == "scheduled")
            except Exception:  # a failed run must not end the schedule; the next one tries again
                log.exception("inventory: %s run failed", job)

    def _first_run(self) -> datetime:
        now = self._runtime.clock()
        newest = self._runtime.snapshots.latest_taken_at()
        if newest is None or now - newest >= self.interval:
            return now
        return self._schedule.next_after(now)

    def _wait(self, due: datetime) -> tuple[str | None, datetime]:
        """Sleep until the schedule fires or gathered notifications are due; (None, _) when stopping."""
        delay = self._settings.event_delay_seconds
        with self._cond:
            while not self._stopping.is_set():
                now = self._runtime.clock()
                if now >= due:
                    self._pending_since = None  # a scheduled refresh covers them
                    return "scheduled", self._schedule.next_after(now)
                timeout = (due - now).total_seconds()
                if self._pending_since is not None:
                    waited = time.monotonic() - self._pending_since
                    if waited >= delay:
                        self._pending_since = None
                        return "notified", due
                    timeout = min(timeout, delay - waited)
                self._cond.wait(min(timeout, 60.0))  # re-read the clock at least every minute
        return None, due


def inventory_service_for(runtime: App) -> InventoryService | None:
    """The service from `inventory.crawl_cron`, or None when no crawls are scheduled."""
    settings = runtime.settings.inventory
    if settings.crawl_cron is None:
        return None
    schedule = parse_cron(settings.crawl_cron, timezone=settings.timezone)
    notifications = runtime.secrets.events_secret is not None
    return InventoryService(runtime, schedule=schedule, notifications=notifications)

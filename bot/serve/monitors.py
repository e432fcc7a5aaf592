"""Background work on registry events: push analysis with Slack alerts, and periodic anomaly detection.

Both run on their own daemon thread so the receiver answers the registry at once. Each push is analysed
at most once (the store records it) and each anomaly alerted at most once (claimed by its key), however
often events are redelivered or detection runs; a failed Slack post releases the claim for the next run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.slack.alerts import anomaly_alert_message, push_alert_message
from tools.errors import RegentError
from tools.events.anomalies import AnomalyReport
from tools.events.models import RegistryEvent
from tools.events.push_analysis import PushAnalysis, analyse_push, wants_analysis
from tools.events.reports import detect_anomalies, refresh_auth_logs
from tools.events.rules import AnomalyRules, PushRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.portainer.client import PortainerClient
from tools.registry.client import RegistryClient

log = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)  # analysis retries when the registry cannot be read yet


class AlertPoster(Protocol):
    """Posts one chat.postMessage payload to a channel; True on success."""

    def post(self, channel: str, message: dict[str, Any]) -> bool:
        """Post; never raises."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PushMonitor:
    """Analyses tagged pushes off the request thread and posts anomalous ones to `channel`."""

    def __init__(
        self,
        *,
        store: EventStore,
        client_for: Callable[[str], RegistryClient | None],
        rules: PushRules,
        poster: AlertPoster | None,
        channel: str | None,
        now: Callable[[], datetime] = _utc_now,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._store, self._client_for, self._rules = store, client_for, rules
        self._poster, self._channel, self._now = poster, channel, now
        self._retry_delays = tuple(retry_delays)
        self._queue: list[tuple[float, int, RegistryEvent, int]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="regent-push-monitor", daemon=True)
        self.analyses: list[PushAnalysis] = []  # the last few, for `regent serve` logs and tests

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the job in progress; queued jobs are dropped (the registry's events stay stored)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, events: Sequence[RegistryEvent]) -> None:
        """Queue new events; tagged manifest pushes are analysed, after a grace when a signature is due."""
        with self._cond:
            for event in events:
                if wants_analysis(event):
                    grace = self._rules.signature_grace_seconds
                    delay = grace if self._rules.requires_signature(event.repository) else 0.0
                    heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), event, 0))
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _due, _n, event, attempt = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._process(event, attempt)
            except Exception:  # one bad push must not stop the monitor
                log.exception("events: analysing push %s failed", event.id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _process(self, event: RegistryEvent, attempt: int) -> None:
        if self._store.push_checked(event.id):
            return
        client = self._client_for(event.registry)
        if client is None:
            log.warning("events: push to %s: registry not configured; not analysed", event.registry)
            return
        try:
            analysis = analyse_push(event, client=client, store=self._store, rules=self._rules)
        except RegentError as exc:
            if attempt < len(self._retry_delays):
                due = time.monotonic() + self._retry_delays[attempt]
                with self._cond:
                    heapq.heappush(self._queue, (due, next(self._seq), event, attempt + 1))
                return
            log.warning(
                "events: push %s/%s:%s not analysed: %s", event.registry, event.repository, event.tag, exc
            )
            return
        report = analysis.model_dump(mode="json")
        if not self._store.record_push_check(
            event.id, anomalous=analysis.anomalous, report=report, now=self._now()
        ):
            return  # another worker (or process) analysed it first
        self.analyses = [*self.analyses[-49:], analysis]
        if analysis.anomalous:
            self._alert(analysis)

    def _alert(self, analysis: PushAnalysis) -> None:
        if not self._channel or self._poster is None:
            return
        if self._poster.post(self._channel, push_alert_message(analysis)):
            self._store.mark_push_alerted(analysis.event_id, now=self._now())


class AnomalyMonitor:
    """Runs anomaly detection every `interval_s` and alerts each new anomaly once."""

    def __init__(
        self,
        *,
        store: EventStore,
        rules: AnomalyRules,
        exclusions: Exclusions,
        poster: AlertPoster | None,
        channel: str | None,
        portainer: PortainerClient | None = None,
        interval_s: float = 900.0,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store, self._rules, self._exclusions = store, rules, exclusions
        self._poster, self._channel, self._portainer = poster, channel, portainer
        self._interval, self._now = interval_s, now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="regent-anomaly-monitor", daemon=True)

    def start(self) -> None:
        """Start the periodic thread (first run right away)."""
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the periodic thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("events: anomaly detection failed")
            self._stop.wait(self._interval)

    def run_once(self) -> tuple[AnomalyReport, int]:
        """Refresh auth logs, detect, post new anomalies; returns the report and how many were posted."""
        if self._portainer is not None:
            try:
                refresh_auth_logs(self._store, self._portainer, source=self._portainer.url)
            except RegentError as exc:
                log.warning("events: Portainer auth logs unavailable: %s", exc)
        now = self._now()
        report = detect_anomalies(self._store, rules=self._rules, exclusions=self._exclusions, now=now)
        if not self._channel or self._poster is None:
            return report, 0
        fresh = [a for a in report.anomalies if self._store.claim_alert(a.key, kind=a.kind, now=now)]
        if not fresh:
            return report, 0
        message = anomaly_alert_message(fresh, window_hours=self._rules.window_hours)
        if self._poster.post(self._channel, message):
            return report, len(fresh)
        for anomaly in fresh:  # let the next run try again
            self._store.release_alert(anomaly.key)
        return report, 0

"""One inventory run of `regent serve`: a full crawl, an event-driven refresh, or a full verification.

Every run saves a snapshot (unless it was cancelled by a stopping process, or an event-driven refresh
found nothing to do), feeds the metrics, and writes one row per registry to the refresh log. Which
repositories changed comes from the registry notifications in the event store (`changed_repositories`,
by arrival time); a registry counts as sending notifications once any of its events arrived. The
domain logic (crawl only the named repositories, merge, compare) is tools/inventory/refresh.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from bot.app import App
from bot.metrics import requests_by_registry
from bot.sources import Sources
from tools.errors import RegentError
from tools.inventory.inventory import run_inventory
from tools.inventory.models import InventorySnapshot
from tools.inventory.refresh import (
    FULL,
    TagChange,
    missed_changes,
    refresh_registries,
    with_environments,
)
from tools.inventory.refresh_log import RefreshLog, RunKind

log = logging.getLogger(__name__)
MISSED_IN_LOG = 10  # changes named in the warning; the refresh log keeps more, the metric counts all


@dataclass(slots=True)
class RunReport:
    """What one run did."""

    kind: RunKind
    snapshot: InventorySnapshot | None = None  # None: nothing saved (cancelled, nothing to do)
    requests: int = 0
    registry_requests: dict[str, int] = field(default_factory=dict)  # by registry name
    crawled: dict[str, list[str] | None] = field(default_factory=dict)
    missed: dict[str, list[TagChange]] = field(default_factory=dict)


class InventoryRunner:
    """Runs crawls for the serve scheduler; `cancel` (set when serve stops) cuts a crawl short."""

    def __init__(self, runtime: App, *, refresh_log: RefreshLog, cancel: threading.Event) -> None:
        self._runtime = runtime
        self._log = refresh_log
        self._cancel = cancel

    def full(self, *, verify: bool) -> RunReport:
        """Crawl everything; with `verify`, report what changed that no notification announced."""
        runtime = self._runtime
        kind: RunKind = "verify" if verify else "full"
        previous = runtime.latest_snapshot() if verify else None
        started, now = time.monotonic(), runtime.clock()
        sources = runtime.sources()
        try:
            if not sources.registries and not sources.deployments:
                log.warning("inventory: nothing to crawl (no registries, Portainer or Docker hosts)")
                return RunReport(kind)
            snapshot = run_inventory(
                sources.registries,
                sources.deployments,
                workers=runtime.settings.crawl_workers,
                now=now,
                cancel=self._cancel,
            )
            snapshot.errors[:0] = sources.errors
            report = self._save(kind, snapshot, sources, started)
        finally:
            sources.close()
        if report.snapshot is not None and previous is not None:
            report.missed = self._compare(previous, report.snapshot)
        report.crawled = {inventory.source.name: FULL for inventory in snapshot.registries}
        self._record(report)
        return report

    def refresh(self, *, scheduled: bool) -> RunReport:
        """Re-crawl the repositories notifications named since the newest snapshot.

        Scheduled: registries that send no notifications are crawled in full and environments are read
        again. On a notification: only the named repositories are crawled; nothing is saved if none were.
        """
        runtime = self._runtime
        previous = runtime.latest_snapshot()
        if previous is None:
            return self.full(verify=False) if scheduled else RunReport("refresh")
        started, now = time.monotonic(), runtime.clock()  # `now` before reading events: none slips by
        changed = runtime.events.changed_repositories(since=previous.taken_at)
        notifying = set(runtime.events.registries())
        sources = runtime.sources(with_docker_hosts=scheduled)
        try:
            plan = _refresh_plan(sources, changed, notifying, scheduled=scheduled)
            result = refresh_registries(
                sources.registries,
                previous,
                changed=plan,
                now=now,
                workers=runtime.settings.crawl_workers,
                cancel=self._cancel,
            )
            if not scheduled and not any(r is FULL or r for r in result.crawled.values()):
                return RunReport("refresh")
            if scheduled and sources.deployments:
                _read_environments(result.snapshot, sources)
            result.snapshot.errors[:0] = sources.errors
            report = self._save("refresh", result.snapshot, sources, started)
        finally:
            sources.close()
        report.crawled = result.crawled
        runtime.metrics.observe_refresh(result.crawled)
        self._record(report)
        return report

    def _save(
        self, kind: RunKind, snapshot: InventorySnapshot, sources: Sources, started: float
    ) -> RunReport:
        report = RunReport(kind, requests=sum(snapshot.requests.values()))
        if self._cancel.is_set():
            log.info("inventory: %s crawl cancelled (stopping); nothing saved", kind)
            return report
        self._runtime.snapshots.save(snapshot)
        report.snapshot = snapshot
        per_registry = requests_by_registry(sources.registries)
        report.registry_requests = {name: sum(counts.values()) for name, counts in per_registry.items()}
        self._runtime.metrics.observe_crawl(
            kind=kind,
            seconds=time.monotonic() - started,
            partial=any(inventory.partial for inventory in snapshot.registries),
            requests=per_registry,
            taken_at=snapshot.taken_at.timestamp(),
        )
        return report

    def _compare(self, previous: InventorySnapshot, full: InventorySnapshot) -> dict[str, list[TagChange]]:
        """Per registry that sends notifications: the changes none of them announced."""
        events = self._runtime.events
        announced = events.changed_repositories(since=previous.taken_at)  # after the crawl: all of them
        notifying = set(events.registries())
        before = {inventory.source.url: inventory for inventory in previous.registries}
        missed: dict[str, list[TagChange]] = {}
        for inventory in full.registries:
            earlier, host = before.get(inventory.source.url), inventory.source.image_host
            if earlier is None or earlier.partial or inventory.partial or host not in notifying:
                continue
            found = missed_changes(earlier, inventory, announced=announced.get(host, ()))
            missed[inventory.source.name] = found
            self._runtime.metrics.observe_missed(inventory.source.name, len(found))
            if found:
                named = ", ".join(str(change) for change in found[:MISSED_IN_LOG])
                more = f" and {len(found) - MISSED_IN_LOG} more" if len(found) > MISSED_IN_LOG else ""
                log.warning(
                    "inventory: verification of %s found %d changes no notification announced: %s%s",
                    inventory.source.name,
                    len(found),
                    named,
                    more,
                )
        return missed

    def _record(self, report: RunReport) -> None:
        if report.snapshot is None:
            return
        at = report.snapshot.taken_at
        for name, repositories in report.crawled.items():
            self._log.record(
                at=at,
                kind=report.kind,
                registry=name,
                repositories=-1 if repositories is FULL else len(repositories or []),
                requests=report.registry_requests.get(name, 0),
                missed=report.missed.get(name),
            )
        log.info(
            "inventory: %s done: %s; %d requests",
            report.kind,
            describe(report.crawled),
            report.requests,
        )


def describe(crawled: Mapping[str, list[str] | None]) -> str:
    """What a run crawled, for the log."""
    parts = [
        f"{name}: full" if repositories is FULL else f"{name}: {len(repositories)} repositories"
        for name, repositories in crawled.items()
        if repositories is FULL or repositories
    ]
    return "; ".join(parts) or "nothing changed"


def _refresh_plan(
    sources: Sources,
    changed: Mapping[str, Collection[str]],
    notifying: Collection[str],
    *,
    scheduled: bool,
) -> dict[str, Collection[str]]:
    """Image host -> repositories to re-crawl; a host left out is crawled in full (scheduled runs only)."""
    plan: dict[str, Collection[str]] = {}
    for target in sources.registries:
        host = target.source.image_host
        if host in notifying:
            plan[host] = changed.get(host, ())
        elif not scheduled:
            plan[host] = ()  # sends no notifications: carried over until the next scheduled run
    return plan


def _read_environments(snapshot: InventorySnapshot, sources: Sources) -> None:
    environments, deployments, errors = [], [], []
    requests: dict[str, int] = {}
    for source in sources.deployments:
        try:
            batch = source()
        except RegentError as exc:
            errors.append(str(exc))
            continue
        environments.extend(batch.environments)
        deployments.extend(batch.deployments)
        errors.extend(batch.errors)
        for method, count in batch.requests.items():
            requests[method] = requests.get(method, 0) + count
    with_environments(
        snapshot, environments=environments, deployments=deployments, errors=errors, requests=requests
    )

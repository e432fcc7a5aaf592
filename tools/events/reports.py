"""Store-backed entry points: anomaly detection over stored events, the Portainer auth-log copy, and the
digest's events section. Everything here reads the EventStore; rules live in anomalies.py and stats.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from tools.errors import NotFound
from tools.events.anomalies import (
    AUTH_FAILURE,
    AUTH_SUCCESS,
    Activity,
    Anomaly,
    AnomalyReport,
    AuthAttempt,
    find_activity_anomalies,
)
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.portainer.client import PortainerClient


def detect_anomalies(
    store: EventStore,
    *,
    rules: AnomalyRules,
    exclusions: Exclusions,
    now: datetime,
    registry: str | None = None,
) -> AnomalyReport:
    """Anomalies of the last `window_hours` against the `baseline_days` before them."""
    window_start = now - timedelta(hours=rules.window_hours)
    baseline_start = window_start - timedelta(days=rules.baseline_days)
    baseline = [
        Activity(*row) for row in store.activity(since=baseline_start, until=window_start, registry=registry)
    ]
    window = [Activity(*row) for row in store.activity(since=window_start, until=now, registry=registry)]
    auth: list[AuthAttempt] | None = None
    if store.has_auth_logs():
        auth = [
            AuthAttempt(source=source, at=at, username=username, origin=origin, success=kind == AUTH_SUCCESS)
            for source, at, username, origin, kind in store.auth_logs(since=window_start)
            if kind in (AUTH_SUCCESS, AUTH_FAILURE) and at < now
        ]
    return find_activity_anomalies(baseline, window, rules=rules, exclusions=exclusions, now=now, auth=auth)


def refresh_auth_logs(store: EventStore, portainer: PortainerClient, *, source: str) -> int | None:
    """Copy new BE auth log entries into the store (BE purges its own after ~7 days); None on CE."""
    latest = store.latest_auth_log(source)
    after = int(latest.timestamp()) - 1 if latest is not None else None  # same-second entries: ids dedupe
    try:
        entries = portainer.auth_logs(after=after)
    except NotFound:
        return None
    return store.add_auth_logs(
        source,
        (
            (
                entry.id,
                datetime.fromtimestamp(entry.timestamp, UTC),
                entry.username,
                entry.origin,
                entry.context,
                entry.type,
            )
            for entry in entries
        ),
    )


class RepositoryPulls(BaseModel):
    """Counted pulls of one repository in the digest window."""

    registry: str
    repository: str
    pulls: int


class EventsDigest(BaseModel):
    """The digest's registry-events section: activity, unusual pushes and access anomalies."""

    since: datetime
    until: datetime
    pushes: int
    counted_pulls: int
    excluded_pulls: int = Field(description="pulls by ignored actors and user agents (scanners, CI)")
    top_pulled: list[RepositoryPulls]
    unusual_pushes: list[str] = Field(description="one line per anomalous push")
    anomalies: list[Anomaly]
    more_anomalies: int = 0

    @property
    def empty(self) -> bool:
        """True when no event arrived in the window (notifications may not be configured)."""
        return self.pushes == 0 and self.counted_pulls == 0 and self.excluded_pulls == 0


def events_digest(
    store: EventStore,
    *,
    rules: AnomalyRules,
    exclusions: Exclusions,
    now: datetime,
    hours: int = 24,
    limit: int = 10,
) -> EventsDigest:
    """What happened in the registries in the last `hours`, bounded to `limit` lines per list."""
    since = now - timedelta(hours=hours)
    pulls: Counter[tuple[str, str]] = Counter()
    excluded = pushes = 0
    for activity in (Activity(*row) for row in store.activity(since=since, until=now)):
        if activity.action == "push":
            pushes += activity.count
        elif exclusions.excludes(activity.actor, activity.user_agent):
            excluded += activity.count
        else:
            pulls[(activity.registry, activity.repository)] += activity.count
    unusual = [
        f"{r['registry']}/{r['repository']}:{r['tag']} by {r.get('actor') or 'anonymous'}: "
        + "; ".join(f["message"] for f in r.get("findings", []) if f.get("severity") == "alert")
        for r in store.push_reports(since=since)
    ]
    window_rules = rules.model_copy(update={"window_hours": hours})
    report = detect_anomalies(store, rules=window_rules, exclusions=exclusions, now=now)
    return EventsDigest(
        since=since,
        until=now,
        pushes=pushes,
        counted_pulls=sum(pulls.values()),
        excluded_pulls=excluded,
        top_pulled=[
            RepositoryPulls(registry=registry, repository=repository, pulls=count)
            for (registry, repository), count in pulls.most_common(limit)
        ],
        unusual_pushes=unusual[:limit],
        anomalies=report.anomalies[:limit],
        more_anomalies=max(0, len(report.anomalies) - limit),
    )

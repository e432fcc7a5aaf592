"""Access anomalies: compare a recent window of registry events (and Portainer auth logs) with a baseline.

Rules (each can be switched off; thresholds in `AnomalyRules`):
- new_pusher: an actor pushes to a repository with an established history that it never pushed to before.
- new_network: pulls or pushes from an address range (IPv4 /24, IPv6 /64) the registry never saw.
- pull_spike: a repository or an actor pulls far more than its baseline daily rate.
- unusual_hour: an actor pushes at an hour of day it never pushed at before.
- failed_logins: repeated failed Portainer logins for one user or from one address in a short interval.
Pull-based rules skip excluded actors and user agents (scanners and CI are noisy by design); push rules
never do. Every anomaly has a stable `key`, so an alert is posted once however often detection runs.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from tools.events.models import RegistryEvent
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions

AnomalyKind = Literal["new_pusher", "new_network", "pull_spike", "unusual_hour", "failed_logins"]
AnomalySeverity = Literal["high", "medium", "low"]
_ORDER = {"high": 0, "medium": 1, "low": 2}
AUTH_SUCCESS, AUTH_FAILURE = 1, 2  # Portainer BE AuthenticationActivityType


class AuthAttempt(BaseModel):
    """One Portainer login attempt (BE auth log)."""

    source: str = Field(description="which Portainer")
    at: datetime
    username: str
    origin: str = Field(description="client address")
    success: bool


class Anomaly(BaseModel):
    """One unusual access pattern."""

    kind: AnomalyKind
    severity: AnomalySeverity
    key: str = Field(description="stable identity, for posting each alert once")
    summary: str
    registry: str = ""
    repository: str = ""
    actor: str = ""
    network: str = ""
    count: int
    first_at: datetime
    last_at: datetime


class AnomalyReport(BaseModel):
    """Anomalies of one window."""

    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    anomalies: list[Anomaly]
    window_events: int
    baseline_events: int
    auth_attempts: int | None = Field(description="login attempts checked; None when no auth logs exist")


@dataclass(frozen=True, slots=True)
class Activity:
    """Manifest pushes or pulls sharing registry, action, repository, actor, user agent and address.

    Pushes are one activity each (their times matter); pulls may be pre-aggregated by the store, so
    detection over months of pulls reads thousands of groups, not millions of events.
    """

    registry: str
    action: str
    repository: str
    actor: str
    user_agent: str
    addr: str
    count: int
    first: datetime
    last: datetime


def activities_of(events: Sequence[RegistryEvent]) -> list[Activity]:
    """One activity per manifest push or pull event."""
    return [
        Activity(e.registry, e.action, e.repository, e.actor, e.user_agent, e.addr, 1, e.at, e.at)
        for e in events
        if e.action in ("push", "pull") and e.kind == "manifest"
    ]


def find_anomalies(
    baseline: Sequence[RegistryEvent],
    window: Sequence[RegistryEvent],
    *,
    rules: AnomalyRules,
    exclusions: Exclusions,
    now: datetime,
    auth: Sequence[AuthAttempt] | None = None,
) -> AnomalyReport:
    """Every anomaly of `window` measured against `baseline`, most severe and largest first."""
    return find_activity_anomalies(
        activities_of(baseline), activities_of(window), rules=rules, exclusions=exclusions, now=now, auth=auth
    )


def find_activity_anomalies(
    baseline: Sequence[Activity],
    window: Sequence[Activity],
    *,
    rules: AnomalyRules,
    exclusions: Exclusions,
    now: datetime,
    auth: Sequence[AuthAttempt] | None = None,
) -> AnomalyReport:
    """find_anomalies over activities (what the store's aggregated queries return)."""
    found: list[Anomaly] = []
    if rules.new_pusher:
        found += _new_pushers(baseline, window, rules)
    if rules.new_network:
        found += _new_networks(baseline, window, rules, exclusions)
    if rules.pull_spike:
        found += _pull_spikes(baseline, window, rules, exclusions)
    if rules.unusual_hour:
        found += _unusual_hours(baseline, window, rules)
    if auth is not None:
        found += _failed_logins(auth, rules)
    found.sort(key=lambda a: (_ORDER[a.severity], -a.count, a.key))
    start = now - timedelta(hours=rules.window_hours)
    return AnomalyReport(
        window_start=start,
        window_end=now,
        baseline_start=start - timedelta(days=rules.baseline_days),
        anomalies=found,
        window_events=sum(a.count for a in window),
        baseline_events=sum(a.count for a in baseline),
        auth_attempts=len(auth) if auth is not None else None,
    )


def _pushes(activities: Sequence[Activity]) -> list[Activity]:
    return [a for a in activities if a.action == "push"]


def _pulls(activities: Sequence[Activity], exclusions: Exclusions) -> list[Activity]:
    return [a for a in activities if a.action == "pull" and not exclusions.excludes(a.actor, a.user_agent)]


def _new_pushers(
    baseline: Sequence[Activity], window: Sequence[Activity], rules: AnomalyRules
) -> list[Anomaly]:
    history: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for a in _pushes(baseline):
        history[(a.registry, a.repository)][a.actor] += a.count
    fresh: dict[tuple[str, str, str], list[Activity]] = defaultdict(list)
    for a in _pushes(window):
        known = history.get((a.registry, a.repository), Counter())
        if a.actor and sum(known.values()) >= rules.min_repository_pushes and a.actor not in known:
            fresh[(a.registry, a.repository, a.actor)].append(a)
    out = []
    for (registry, repository, actor), group in sorted(fresh.items()):
        usual = ", ".join(name or "(anonymous)" for name, _ in history[(registry, repository)].most_common(3))
        out.append(
            _anomaly(
                "new_pusher",
                "high",
                group,
                key=f"new_pusher:{registry}/{repository}:{actor}",
                summary=f"{actor} pushed to {repository} for the first time (usually: {usual})",
                registry=registry,
                repository=repository,
                actor=actor,
            )
        )
    return out


def network_of(addr: str, *, ipv4_prefix: int = 24, ipv6_prefix: int = 64) -> str:
    """The address range an IP belongs to (`10.1.2.0/24`); '' for an empty or invalid address."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return ""
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _new_networks(
    baseline: Sequence[Activity], window: Sequence[Activity], rules: AnomalyRules, exclusions: Exclusions
) -> list[Anomaly]:
    def net(a: Activity) -> str:
        return network_of(a.addr, ipv4_prefix=rules.ipv4_prefix, ipv6_prefix=rules.ipv6_prefix)

    seen: dict[str, set[str]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for a in _pushes(baseline) + _pulls(baseline, exclusions):
        sizes[a.registry] += a.count
        if net(a):
            seen[a.registry].add(net(a))
    fresh: dict[tuple[str, str], list[Activity]] = defaultdict(list)
    for a in _pushes(window) + _pulls(window, exclusions):
        network = net(a)
        if network and sizes[a.registry] >= rules.min_baseline_events and network not in seen[a.registry]:
            fresh[(a.registry, network)].append(a)
    out = []
    for (registry, network), group in sorted(fresh.items()):
        pushes = sum(a.count for a in group if a.action == "push")
        pulls = sum(a.count for a in group) - pushes
        actors = sorted({a.actor or "(anonymous)" for a in group})
        repos = sorted({a.repository for a in group})
        what = f"{pulls} pulls" + (f" and {pushes} pushes" if pushes else "")
        out.append(
            _anomaly(
                "new_network",
                "high" if pushes else "medium",
                group,
                key=f"new_network:{registry}:{network}",
                summary=f"{what} from {network}, never seen before (actors {', '.join(actors[:3])};"
                f" repositories {', '.join(repos[:3])}{'…' if len(repos) > 3 else ''})",
                registry=registry,
                network=network,
                actor=actors[0] if len(actors) == 1 else "",
            )
        )
    return out


def _pull_spikes(
    baseline: Sequence[Activity], window: Sequence[Activity], rules: AnomalyRules, exclusions: Exclusions
) -> list[Anomaly]:
    scale = (rules.window_hours / 24) / rules.baseline_days  # baseline count -> expected in the window
    out: list[Anomaly] = []
    for dimension in ("repository", "actor"):
        before: Counter[tuple[str, str]] = Counter()
        for a in _pulls(baseline, exclusions):
            before[(a.registry, getattr(a, dimension))] += a.count
        recent: dict[tuple[str, str], list[Activity]] = defaultdict(list)
        for a in _pulls(window, exclusions):
            recent[(a.registry, getattr(a, dimension))].append(a)
        for (registry, subject), group in sorted(recent.items()):
            count = sum(a.count for a in group)
            expected = before[(registry, subject)] * scale
            if count < rules.spike_min_pulls or count < rules.spike_ratio * max(expected, 1.0):
                continue
            name = subject or "(anonymous)"
            out.append(
                _anomaly(
                    "pull_spike",
                    "medium",
                    group,
                    key=f"pull_spike:{registry}:{dimension}:{subject}",
                    summary=f"{count} pulls {'of' if dimension == 'repository' else 'by'} {name} in"
                    f" {rules.window_hours} h (about {expected:.0f} expected)",
                    registry=registry,
                    repository=subject if dimension == "repository" else "",
                    actor=subject if dimension == "actor" else "",
                )
            )
    return out


def _unusual_hours(
    baseline: Sequence[Activity], window: Sequence[Activity], rules: AnomalyRules
) -> list[Anomaly]:
    zone = ZoneInfo(rules.timezone)
    hours: dict[str, Counter[int]] = defaultdict(Counter)
    for a in _pushes(baseline):
        if a.actor:
            hours[a.actor][a.first.astimezone(zone).hour] += a.count
    odd: dict[tuple[str, str, int], list[Activity]] = defaultdict(list)
    for a in _pushes(window):
        usual = hours.get(a.actor)
        if not a.actor or usual is None or sum(usual.values()) < rules.min_actor_pushes:
            continue
        local = a.first.astimezone(zone)
        near = {(local.hour + d) % 24 for d in range(-rules.hour_slack, rules.hour_slack + 1)}
        if not near & set(usual):
            odd[(a.actor, local.date().isoformat(), local.hour)].append(a)
    out = []
    for (actor, day, hour), group in sorted(odd.items()):
        usual_hours = sorted(hours[actor])
        out.append(
            _anomaly(
                "unusual_hour",
                "low",
                group,
                key=f"unusual_hour:{actor}:{day}:{hour:02d}",
                summary=f"{actor} pushed at {hour:02d}:00 {rules.timezone} on {day}; usual hours"
                f" {_hour_ranges(usual_hours)}",
                registry=group[0].registry,
                repository=group[0].repository if len({a.repository for a in group}) == 1 else "",
                actor=actor,
            )
        )
    return out


def _hour_ranges(hours: list[int]) -> str:
    return ", ".join(f"{h:02d}" for h in hours[:8]) + ("…" if len(hours) > 8 else "")


def _failed_logins(auth: Sequence[AuthAttempt], rules: AnomalyRules) -> list[Anomaly]:
    span = timedelta(minutes=rules.login_window_minutes)
    out: list[Anomaly] = []
    for field in ("username", "origin"):
        failures: dict[tuple[str, str], list[AuthAttempt]] = defaultdict(list)
        for attempt in sorted(auth, key=lambda a: a.at):
            if not attempt.success:
                failures[(attempt.source, getattr(attempt, field))].append(attempt)
        for (source, subject), attempts in sorted(failures.items()):
            burst = _densest(attempts, span)
            if len(burst) < rules.failed_logins or not subject:
                continue
            succeeded = any(
                a.success and getattr(a, field) == subject and burst[0].at <= a.at <= burst[-1].at + span
                for a in auth
            )
            label = f"user {subject}" if field == "username" else f"address {subject}"
            out.append(
                Anomaly(
                    kind="failed_logins",
                    severity="high" if succeeded else "medium",
                    key=f"failed_logins:{source}:{field}:{subject}:{burst[0].at:%Y-%m-%dT%H}",
                    summary=f"{len(burst)} failed Portainer logins for {label} within"
                    f" {rules.login_window_minutes} min" + ("; then a login succeeded" if succeeded else ""),
                    actor=subject if field == "username" else "",
                    network=subject if field == "origin" else "",
                    count=len(burst),
                    first_at=burst[0].at,
                    last_at=burst[-1].at,
                )
            )
    return out


def _densest(attempts: list[AuthAttempt], span: timedelta) -> list[AuthAttempt]:
    """The largest run of attempts that fits in `span` (attempts sorted by time)."""
    best: list[AuthAttempt] = []
    start = 0
    for end, attempt in enumerate(attempts):
        while attempt.at - attempts[start].at > span:
            start += 1
        if end - start + 1 > len(best):
            best = attempts[start : end + 1]
    return best


def _anomaly(
    kind: AnomalyKind,
    severity: AnomalySeverity,
    group: list[Activity],
    *,
    key: str,
    summary: str,
    registry: str = "",
    repository: str = "",
    actor: str = "",
    network: str = "",
) -> Anomaly:
    return Anomaly(
        kind=kind,
        severity=severity,
        key=key,
        summary=summary,
        registry=registry,
        repository=repository,
        actor=actor,
        network=network,
        count=sum(a.count for a in group),
        first_at=min(a.first for a in group),
        last_at=max(a.last for a in group),
    )

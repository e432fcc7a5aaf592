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
        window_events=len(window),
        baseline_events=len(baseline),
        auth_attempts=len(auth) if auth is not None else None,
    )


def _pushes(events: Sequence[RegistryEvent]) -> list[RegistryEvent]:
    return [e for e in events if e.action == "push" and e.kind == "manifest"]


def _pulls(events: Sequence[RegistryEvent], exclusions: Exclusions) -> list[RegistryEvent]:
    return [
        e
        for e in events
        if e.action == "pull" and e.kind == "manifest" and not exclusions.excludes(e.actor, e.user_agent)
    ]


def _new_pushers(
    baseline: Sequence[RegistryEvent], window: Sequence[RegistryEvent], rules: AnomalyRules
) -> list[Anomaly]:
    history: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for e in _pushes(baseline):
        history[(e.registry, e.repository)][e.actor] += 1
    fresh: dict[tuple[str, str, str], list[RegistryEvent]] = defaultdict(list)
    for e in _pushes(window):
        known = history.get((e.registry, e.repository), Counter())
        if e.actor and sum(known.values()) >= rules.min_repository_pushes and e.actor not in known:
            fresh[(e.registry, e.repository, e.actor)].append(e)
    out = []
    for (registry, repository, actor), events in sorted(fresh.items()):
        usual = ", ".join(name or "(anonymous)" for name, _ in history[(registry, repository)].most_common(3))
        out.append(
            _anomaly(
                "new_pusher",
                "high",
                events,
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
    baseline: Sequence[RegistryEvent],
    window: Sequence[RegistryEvent],
    rules: AnomalyRules,
    exclusions: Exclusions,
) -> list[Anomaly]:
    def relevant(events: Sequence[RegistryEvent]) -> list[RegistryEvent]:
        return _pushes(events) + _pulls(events, exclusions)

    def net(e: RegistryEvent) -> str:
        return network_of(e.addr, ipv4_prefix=rules.ipv4_prefix, ipv6_prefix=rules.ipv6_prefix)

    seen: dict[str, set[str]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for e in relevant(baseline):
        sizes[e.registry] += 1
        if net(e):
            seen[e.registry].add(net(e))
    fresh: dict[tuple[str, str], list[RegistryEvent]] = defaultdict(list)
    for e in relevant(window):
        network = net(e)
        if network and sizes[e.registry] >= rules.min_baseline_events and network not in seen[e.registry]:
            fresh[(e.registry, network)].append(e)
    out = []
    for (registry, network), events in sorted(fresh.items()):
        pushes = sum(1 for e in events if e.action == "push")
        actors = sorted({e.actor or "(anonymous)" for e in events})
        repos = sorted({e.repository for e in events})
        what = f"{len(events) - pushes} pulls" + (f" and {pushes} pushes" if pushes else "")
        out.append(
            _anomaly(
                "new_network",
                "high" if pushes else "medium",
                events,
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
    baseline: Sequence[RegistryEvent],
    window: Sequence[RegistryEvent],
    rules: AnomalyRules,
    exclusions: Exclusions,
) -> list[Anomaly]:
    scale = (rules.window_hours / 24) / rules.baseline_days  # baseline count -> expected in the window
    out: list[Anomaly] = []
    for dimension in ("repository", "actor"):
        before: Counter[tuple[str, str]] = Counter()
        for e in _pulls(baseline, exclusions):
            before[(e.registry, getattr(e, dimension))] += 1
        now_events: dict[tuple[str, str], list[RegistryEvent]] = defaultdict(list)
        for e in _pulls(window, exclusions):
            now_events[(e.registry, getattr(e, dimension))].append(e)
        for (registry, subject), events in sorted(now_events.items()):
            expected = before[(registry, subject)] * scale
            if len(events) < rules.spike_min_pulls or len(events) < rules.spike_ratio * max(expected, 1.0):
                continue
            name = subject or "(anonymous)"
            out.append(
                _anomaly(
                    "pull_spike",
                    "medium",
                    events,
                    key=f"pull_spike:{registry}:{dimension}:{subject}",
                    summary=f"{len(events)} pulls {'of' if dimension == 'repository' else 'by'} {name} in"
                    f" {rules.window_hours} h (about {expected:.0f} expected)",
                    registry=registry,
                    repository=subject if dimension == "repository" else "",
                    actor=subject if dimension == "actor" else "",
                )
            )
    return out


def _unusual_hours(
    baseline: Sequence[RegistryEvent], window: Sequence[RegistryEvent], rules: AnomalyRules
) -> list[Anomaly]:
    zone = ZoneInfo(rules.timezone)
    hours: dict[str, Counter[int]] = defaultdict(Counter)
    for e in _pushes(baseline):
        if e.actor:
            hours[e.actor][e.at.astimezone(zone).hour] += 1
    odd: dict[tuple[str, str, int], list[RegistryEvent]] = defaultdict(list)
    for e in _pushes(window):
        usual = hours.get(e.actor)
        if not e.actor or usual is None or sum(usual.values()) < rules.min_actor_pushes:
            continue
        local = e.at.astimezone(zone)
        near = {(local.hour + d) % 24 for d in range(-rules.hour_slack, rules.hour_slack + 1)}
        if not near & set(usual):
            odd[(e.actor, local.date().isoformat(), local.hour)].append(e)
    out = []
    for (actor, day, hour), events in sorted(odd.items()):
        usual_hours = sorted(hours[actor])
        out.append(
            _anomaly(
                "unusual_hour",
                "low",
                events,
                key=f"unusual_hour:{actor}:{day}:{hour:02d}",
                summary=f"{actor} pushed at {hour:02d}:00 {rules.timezone} on {day}; usual hours"
                f" {_hour_ranges(usual_hours)}",
                registry=events[0].registry,
                repository=events[0].repository if len({e.repository for e in events}) == 1 else "",
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
    events: list[RegistryEvent],
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
        count=len(events),
        first_at=min(e.at for e in events),
        last_at=max(e.at for e in events),
    )

"""Events tools: access_anomalies (unusual pushes, pulls, logins) and cache_advice (pull-through caches)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.text import clean_text
from tools.errors import RegentError
from tools.events.access import EventsAccess
from tools.events.cache_advice import advise_caches
from tools.events.client import RateLimit
from tools.events.reports import detect_anomalies
from tools.toolbox.context import Call, ToolFailure
from tools.toolbox.results import ToolResult, cut_note

MIRROR_PULL_DAYS = 30
_SEVERITIES = {"low": 2, "medium": 1, "high": 0}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _events(call: Call) -> EventsAccess:
    access = call.context.events
    if access is None:
        raise ToolFailure(
            "registry notifications are not set up, so Regent has no push, pull or login history",
            hint="tell the user to set REGENT_EVENTS_SECRET and point the registry's notifications at"
            " `regent serve` (see docs/events.md)",
        )
    return access


class AccessAnomaliesArgs(_Args):
    """Unusual registry access in a recent window compared with the weeks before: actors pushing to a
    repository for the first time, pulls or pushes from address ranges never seen, pull spikes, pushes at
    unusual hours, and repeated failed Portainer logins (BE). Scanner and CI pulls are excluded."""

    hours: int | None = Field(None, ge=1, le=336, description="Window in hours; null = configured")
    min_severity: Literal["low", "medium", "high"] = Field("low", description="Only anomalies this severe")
    repository: str | None = Field(None, description="Only anomalies about this repository (exact name)")
    limit: int = Field(20, ge=1, le=50, description="Maximum anomalies to return")


class AnomalyRow(BaseModel):
    """One anomaly."""

    kind: str
    severity: str
    summary: str
    registry: str
    repository: str
    actor: str
    network: str
    count: int
    first_at: str
    last_at: str


class AccessAnomaliesResult(ToolResult):
    """Anomalies, most severe and largest first."""

    window_start: str
    window_end: str
    baseline_days: int
    window_events: int
    baseline_events: int
    failed_logins_checked: bool
    anomalies: list[AnomalyRow]


def access_anomalies(call: Call, args: AccessAnomaliesArgs) -> AccessAnomaliesResult:
    """Detect anomalies over the stored events (and Portainer auth logs when available)."""
    access = _events(call)
    rules = access.anomaly_rules
    if args.hours is not None:
        rules = rules.model_copy(update={"window_hours": args.hours})
    report = detect_anomalies(access.store, rules=rules, exclusions=access.exclusions, now=call.context.now())
    found = [
        a
        for a in report.anomalies
        if _SEVERITIES[a.severity] <= _SEVERITIES[args.min_severity]
        and (args.repository is None or a.repository == args.repository)
    ]
    rows = [
        AnomalyRow(
            kind=a.kind,
            severity=a.severity,
            summary=clean_text(a.summary, limit=300),
            registry=clean_text(a.registry, limit=100),
            repository=clean_text(a.repository),
            actor=clean_text(a.actor, limit=100),
            network=a.network,
            count=a.count,
            first_at=a.first_at.isoformat(timespec="seconds"),
            last_at=a.last_at.isoformat(timespec="seconds"),
        )
        for a in found[: args.limit]
    ]
    note = cut_note(len(rows), len(found), "anomalies", "raise min_severity or filter by repository")
    if report.window_events == 0 and note is None:
        note = "no registry events in this window: check that notifications still arrive"
    return AccessAnomaliesResult(
        window_start=report.window_start.isoformat(timespec="seconds"),
        window_end=report.window_end.isoformat(timespec="seconds"),
        baseline_days=rules.baseline_days,
        window_events=report.window_events,
        baseline_events=report.baseline_events,
        failed_logins_checked=report.auth_attempts is not None,
        anomalies=rows,
        truncated=len(rows) < len(found),
        note=note,
    )


class CacheAdviceArgs(_Args):
    """Which upstream registries (docker.io, ghcr.io, quay.io, ...) the environments pull from, ranked by
    hosts and pulls; which are worth a pull-through cache, with the generated distribution cache config and
    Docker's registry-mirrors setting. Optionally checks Docker Hub's current pull rate limit."""

    include_configs: bool = Field(True, description="Include generated cache configs")
    check_rate_limit: bool = Field(False, description="Ask Docker Hub for its pull limit")
    cache_domain: str | None = Field(None, description="Cache host name; null = default")
    limit: int = Field(10, ge=1, le=25, description="Maximum upstream registries to return")


class UpstreamRow(BaseModel):
    """One upstream registry."""

    registry: str
    hosts: int
    images: int
    deployments: int
    pulls: int
    suggest_cache: bool
    reason: str
    cached_by: str | None
    top_images: list[str]


class ConfigRow(BaseModel):
    """A generated cache."""

    upstream: str
    cache_host: str
    distribution_config: str
    docker_daemon_json: str | None
    image_rewrites: list[str]
    notes: list[str]


class CacheAdviceResult(ToolResult):
    """Ranked upstreams and generated caches."""

    environments: int
    upstreams: list[UpstreamRow]
    configs: list[ConfigRow]
    rate_limit: RateLimit | None = None
    rate_limit_error: str | None = None


def cache_advice(call: Call, args: CacheAdviceArgs) -> CacheAdviceResult:
    """Rank upstreams from the latest snapshot's deployments and pulls through configured caches."""
    snapshot = call.require_snapshot()
    access = call.context.events
    pulls = []
    if access is not None and access.mirrors:
        since = call.context.now() - timedelta(days=MIRROR_PULL_DAYS)
        pulls = [
            e for e in access.store.events(actions=["pull"], since=since) if e.registry in access.mirrors
        ]
    advice = advise_caches(
        snapshot.deployments,
        pulls,
        own_hosts=[inv.source.image_host for inv in snapshot.registries],
        mirrors=access.mirrors if access is not None else {},
        cache_domain=args.cache_domain or "registry-cache.internal",
        events_url=access.events_url if access is not None else None,
    )
    rows = [
        UpstreamRow(
            **u.model_dump(include={"registry", "hosts", "images", "deployments", "pulls", "suggest_cache"}),
            reason=u.reason,
            cached_by=u.cached_by,
            top_images=[f"{i.reference} ({i.hosts} hosts)" for i in u.top_images],
        )
        for u in advice.upstreams[: args.limit]
    ]
    configs = [ConfigRow(**c.model_dump()) for c in advice.configs[:3]] if args.include_configs else []
    result = CacheAdviceResult(
        environments=advice.environments,
        upstreams=rows,
        configs=configs,
        truncated=len(rows) < len(advice.upstreams),
        note=cut_note(len(rows), len(advice.upstreams), "upstream registries", "raise limit"),
    )
    if args.check_rate_limit:
        _add_rate_limit(result, access)
    return result


def _add_rate_limit(result: CacheAdviceResult, access: EventsAccess | None) -> None:
    if access is None or access.rate_limit is None:
        result.rate_limit_error = "the Docker Hub check is not configured here"
        return
    try:
        result.rate_limit = access.rate_limit()
    except RegentError as exc:
        result.rate_limit_error = str(exc)

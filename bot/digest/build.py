"""Build the digest from a DigestContext with an ordered list of section providers.

Extension point: `default_providers(extra=...)` puts extra providers (vulnerabilities "fix first",
registry-event anomalies) between the drift and the proposals sections. A provider returns None when it
has no data, and that section is left out; a provider that raises becomes a one-line note, never a
missing digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digest import format as fmt
from bot.digest.context import DigestContext, SectionProvider
from bot.digest.model import ChartBand, ChartData, ChartPoint, ChartSeries, Digest, DigestSection
from bot.digest.sections_cleanup import new_images_section, retention_section, waste_section
from bot.digest.sections_risk import blind_spots_section, drift_section, proposals_section
from bot.digest.sections_storage import (
    drivers_section,
    forecast_section,
    headline_forecast,
    headline_totals,
    overview_section,
)
from tools.analysis.trends import Forecast

log = logging.getLogger(__name__)

Summarizer = Callable[[str], str]  # the digest as plain text -> a three-sentence summary (may raise)
CHART_SERIES = 5  # largest registries drawn; more lines stop being readable

_BEFORE_EXTRA: tuple[SectionProvider, ...] = (
    overview_section,
    blind_spots_section,
    forecast_section,
    drivers_section,
    new_images_section,
    waste_section,
    retention_section,
    drift_section,
)
_AFTER_EXTRA: tuple[SectionProvider, ...] = (proposals_section,)


def default_providers(*, extra: Sequence[SectionProvider] = ()) -> tuple[SectionProvider, ...]:
    """The digest's sections in order, with `extra` providers before the pending proposals."""
    return (*_BEFORE_EXTRA, *extra, *_AFTER_EXTRA)


def run_providers(ctx: DigestContext, providers: Sequence[SectionProvider]) -> list[DigestSection]:
    """Sections from each provider in order; None is skipped, an exception becomes a short note."""
    sections: list[DigestSection] = []
    for provider in providers:
        name = getattr(provider, "__name__", type(provider).__name__)
        try:
            section = provider(ctx)
        except Exception as exc:
            log.exception("digest section %s failed", name)
            section = DigestSection(
                key=name.removesuffix("_section"),
                title=name.removesuffix("_section").replace("_", " ").capitalize(),
                severity="warning",
                lines=[f"This section could not be computed ({type(exc).__name__}); details are in the log."],
            )
        if section is not None:
            sections.append(section)
    return sections


def build_digest(
    ctx: DigestContext,
    *,
    providers: Sequence[SectionProvider] | None = None,
    summarizer: Summarizer | None = None,
    summary_by: str | None = None,
) -> Digest:
    """The complete digest for this context: headline, sections, chart data and the optional summary."""
    sections = run_providers(ctx, default_providers() if providers is None else providers)
    digest = Digest(
        title=f"Registry digest, {fmt.day(ctx.now, ctx.timezone)}",
        generated_at=ctx.now,
        timezone=ctx.timezone.key,
        snapshot_id=ctx.snapshot_id,
        snapshot_taken_at=ctx.snapshot.taken_at,
        headline=[*headline_totals(ctx), *headline_forecast(ctx), *_headline_findings(ctx, sections)],
        sections=sections,
        chart=chart_data(ctx),
    )
    if summarizer is None:
        return digest
    try:
        summary = summarizer(plain_text(digest)).strip()
    except Exception as exc:
        log.warning("digest summary skipped: %s", type(exc).__name__)
        return digest
    return digest.model_copy(update={"summary": summary or None, "summary_by": summary_by})


def empty_digest(*, now: datetime, timezone: ZoneInfo) -> Digest:
    """The digest before the first inventory: says so and what to run."""
    return Digest(
        title=f"Registry digest, {fmt.day(now, timezone)}",
        generated_at=now,
        timezone=timezone.key,
        snapshot_id=None,
        snapshot_taken_at=None,
        headline=["No inventory yet: run `regent inventory` (or wait for the next crawl)."],
        sections=[],
    )


def _headline_findings(ctx: DigestContext, sections: Sequence[DigestSection]) -> list[str]:
    out = []
    if ctx.snapshot.errors:
        out.append(f"Incomplete inventory: {len(ctx.snapshot.errors)} read errors (see Not seen)")
    plan = ctx.retention.plan
    if plan is not None and plan.items:
        out.append(
            f"Cleanup now: {len(plan.items)} manifests, {fmt.size(plan.reclaimable_bytes)} reclaimable "
            "(button below)"
        )
    risky = [s.title for s in sections if s.severity == "risk"]
    if risky:
        out.append("Risk: " + ", ".join(risky))
    waiting = [p for p in ctx.pending if p.expires_at > ctx.now]
    if waiting:
        out.append(f"{len(waiting)} proposals wait for approval")
    return out


def plain_text(digest: Digest) -> str:
    """The digest as plain text (the LLM summary's only input; no ids, no secrets)."""
    parts = [digest.title, *digest.headline]
    for section in digest.sections:
        parts.append(f"\n{section.title}")
        parts.extend(section.lines)
        if section.table is not None:
            parts.append(" | ".join(section.table.headers))
            parts.extend(" | ".join(row) for row in section.table.rows)
    return "\n".join(parts)


def chart_data(ctx: DigestContext) -> ChartData | None:
    """Stored bytes over time of the largest registries, with their forecast bands."""
    ranked = sorted(ctx.registries, key=lambda f: -f.current.stored_bytes)[:CHART_SERIES]
    series = [
        ChartSeries(
            registry=facts.name,
            history=[ChartPoint(at=p.at, bytes=p.value) for p in facts.series],
            forecast=_bands(facts.forecast),
            quota=facts.quota,
        )
        for facts in ranked
        if facts.series
    ]
    if not series:
        return None
    return ChartData(
        title=f"Stored bytes per registry, with the 90-day forecast ({fmt.day(ctx.now, ctx.timezone)})",
        timezone=ctx.timezone.key,
        series=series,
    )


def _bands(forecast: Forecast) -> list[ChartBand]:
    latest = forecast.latest
    if forecast.status != "ok" or latest is None:
        return []
    start = ChartBand(at=latest.at, expected=latest.value, low=latest.value, high=latest.value)
    bands = [start]
    for projection in forecast.projections:
        bands.append(
            ChartBand(
                at=latest.at + timedelta(days=projection.days),
                expected=projection.expected,
                low=projection.low,
                high=projection.high,
            )
        )
    return bands

"""Digest sections about storage: totals and change since the previous digest, growth and forecast,
and the repositories that drive growth."""

from __future__ import annotations

from bot.digest import format as fmt
from bot.digest.context import DigestContext, RegistryFacts
from bot.digest.model import DigestSection, table
from tools.analysis.cost import monthly_cost
from tools.analysis.trends import Forecast, quota_outlook


def registry_cost(facts: RegistryFacts, stored: int) -> float:
    """Monthly cost of `stored` bytes at this registry's price."""
    return monthly_cost(stored, facts.price.per_gb_month)


def overview_section(ctx: DigestContext) -> DigestSection | None:
    """Totals per registry and the change since the previous digest."""
    if not ctx.registries:
        return None
    currency = ctx.options.currency
    rows = []
    for facts in ctx.registries:
        now, before = facts.current, facts.previous
        cost = registry_cost(facts, now.stored_bytes)
        rows.append(
            [
                facts.name + (" (partial crawl)" if now.partial else ""),
                str(now.repositories),
                str(now.tags),
                fmt.size(now.stored_bytes),
                fmt.size_change(now.stored_bytes - before.stored_bytes) if before else "new",
                fmt.money(cost, currency),
                f"{fmt.money(facts.price.per_gb_month, currency)}/GB ({facts.price.source})",
            ]
        )
    since = (
        f"Changes are since the previous digest ({fmt.when(ctx.previous_sent_at, ctx.timezone)})."
        if ctx.previous_sent_at
        else "This is the first digest: changes start with the next one."
    )
    return DigestSection(
        key="overview",
        title="Totals",
        lines=[since],
        table=table(
            ["registry", "repositories", "tags", "stored", "change", "cost/month", "price"],
            rows,
            right=[1, 2, 3, 4, 5],
        ),
        notes=[
            f"Inventory of {fmt.when(ctx.snapshot.taken_at, ctx.timezone)}. Stored bytes count every blob "
            "once per registry; a GB is 2^30 bytes."
        ],
    )


def headline_totals(ctx: DigestContext) -> list[str]:
    """The totals lines of the headline: stored bytes, cost, repositories and tags, with changes."""
    regs = ctx.registries
    stored = sum(f.current.stored_bytes for f in regs)
    cost = sum(registry_cost(f, f.current.stored_bytes) for f in regs)
    repos = sum(f.current.repositories for f in regs)
    tags = sum(f.current.tags for f in regs)
    currency = ctx.options.currency
    known = [f for f in regs if f.previous is not None]
    where = "1 registry" if len(regs) == 1 else f"{len(regs)} registries"
    stored_line = f"Stored {fmt.size(stored)} in {where}, {fmt.money(cost, currency)}/month"
    counts_line = f"{repos} repositories, {tags} tags"
    if ctx.previous_sent_at and known:
        d_stored = sum(f.current.stored_bytes - f.previous.stored_bytes for f in known if f.previous)
        d_cost = sum(
            registry_cost(f, f.current.stored_bytes) - registry_cost(f, f.previous.stored_bytes)
            for f in known
            if f.previous
        )
        d_repos = sum(f.current.repositories - f.previous.repositories for f in known if f.previous)
        d_tags = sum(f.current.tags - f.previous.tags for f in known if f.previous)
        stored_line += f" ({fmt.size_change(d_stored)}, {fmt.money_change(d_cost, currency)}/month)"
        counts_line = (
            f"{repos} repositories ({fmt.count_change(d_repos)}), {tags} tags ({fmt.count_change(d_tags)})"
        )
    return [stored_line, counts_line]


def _forecast_cells(facts: RegistryFacts, forecast: Forecast, currency: str) -> list[str]:
    cells = []
    for days in (30, 90):
        projection = forecast.projection(days)
        if projection is None:
            cells.append("-")
            continue
        cost = registry_cost(facts, projection.expected)
        cells.append(
            f"{fmt.size(projection.expected)} ({fmt.size(projection.low)}-{fmt.size(projection.high)}), "
            f"{fmt.money(cost, currency)}/month"
        )
    return cells


def _quota_text(facts: RegistryFacts) -> str:
    if facts.quota is None:
        return "-"
    outlook = quota_outlook(facts.forecast, facts.quota)
    quota = fmt.size(facts.quota)
    if outlook.status == "exceeded":
        return f"{quota}: exceeded"
    if outlook.status == "unknown":
        return f"{quota}: not enough history"
    if outlook.status == "not_reached":
        soonest = f", at the earliest {outlook.earliest.isoformat()}" if outlook.earliest else ""
        return f"{quota}: not within 2 years{soonest}"
    assert outlook.expected is not None
    span = f"{outlook.earliest.isoformat() if outlook.earliest else '?'} to "
    span += outlook.latest.isoformat() if outlook.latest else "never"
    return f"{quota}: {outlook.expected.isoformat()} ({span})"


def forecast_section(ctx: DigestContext) -> DigestSection | None:
    """Growth per day and week, 30- and 90-day forecasts in bytes and money, quota dates."""
    if not ctx.registries:
        return None
    rows = []
    lines = []
    currency = ctx.options.currency
    for facts in ctx.registries:
        forecast = facts.forecast
        if forecast.status != "ok" or forecast.per_day is None or forecast.per_week is None:
            lines.append(f"{facts.name}: {forecast.reason}.")
            continue
        rows.append(
            [
                facts.name,
                fmt.rate(forecast.per_day),
                fmt.rate(forecast.per_week, per="week"),
                *_forecast_cells(facts, forecast, currency),
                _quota_text(facts),
            ]
        )
    if not rows and not lines:
        return None
    return DigestSection(
        key="forecast",
        title="Growth and forecast",
        lines=lines,
        table=table(["registry", "growth", "per week", "in 30 days", "in 90 days", "quota reached"], rows)
        if rows
        else None,
        notes=[
            "Growth is the Theil-Sen slope (median of pairwise slopes) over one point per day; "
            "the forecast starts at today's value and its range is 90% (slope interval plus daily noise)."
        ],
    )


def drivers_section(ctx: DigestContext) -> DigestSection | None:
    """The repositories that added the most bytes over the last week."""
    growths = sorted(
        (g for facts in ctx.registries for g in facts.drivers),
        key=lambda g: (-g.change, g.registry, g.repository),
    )
    rows = [
        [
            g.registry,
            g.repository,
            fmt.size(g.after),
            fmt.size_change(g.change),
            fmt.day(g.since, ctx.timezone),
        ]
        for g in growths
    ]
    if not rows:
        return None
    return DigestSection(
        key="drivers",
        title="Repositories driving growth",
        table=table(
            ["registry", "repository", "stored", "change", "since"],
            rows,
            right=[2, 3],
            limit=ctx.options.rows,
        ),
        notes=[
            "A repository's bytes count every blob it references once; blobs shared with other "
            "repositories count in each, so these do not add up to the registry total."
        ],
    )


def headline_forecast(ctx: DigestContext) -> list[str]:
    """One headline line: the 30- and 90-day forecast over all registries that have enough history."""
    ready = [f for f in ctx.registries if f.forecast.status == "ok"]
    if not ready:
        return ["Forecast: not enough history yet"] if ctx.registries else []
    parts = []
    for days in (30, 90):
        projections = [p for f in ready if (p := f.forecast.projection(days)) is not None]
        expected = sum(p.expected for p in projections)
        low, high = sum(p.low for p in projections), sum(p.high for p in projections)
        parts.append(f"{fmt.size(expected)} in {days} days ({fmt.size(low)}-{fmt.size(high)})")
    partial = (
        "" if len(ready) == len(ctx.registries) else f" ({len(ready)} of {len(ctx.registries)} registries)"
    )
    return [f"Forecast{partial}: " + ", ".join(parts)]

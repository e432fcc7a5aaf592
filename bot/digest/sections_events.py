"""The digest's "Registry activity" section: pushes and counted pulls since the last digest, unusual
pushes, and access anomalies. A provider for `bot.digest.build.default_providers(extra=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.digest.context import DigestContext
from bot.digest.model import DigestSection, Severity, table
from tools.events.reports import events_digest
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore

if TYPE_CHECKING:
    from bot.app import App


def events_section_provider(
    store: EventStore, *, rules: AnomalyRules, exclusions: Exclusions
) -> Callable[[DigestContext], DigestSection | None]:
    """A section provider bound to the event store and the configured rules."""

    def events_section(ctx: DigestContext) -> DigestSection | None:
        """Registry activity since the previous digest; None when no event arrived and nothing is odd."""
        hours = max(1, round((ctx.now - ctx.since) / timedelta(hours=1)))
        digest = events_digest(
            store, rules=rules, exclusions=exclusions, now=ctx.now, hours=hours, limit=ctx.options.rows
        )
        if digest.empty and not digest.anomalies and not digest.unusual_pushes:
            return None
        lines = [
            f"{digest.pushes} pushes and {digest.counted_pulls} pulls in the last {hours} h"
            + (
                f" ({digest.excluded_pulls} more by scanners and CI, not counted)"
                if digest.excluded_pulls
                else ""
            )
        ]
        if digest.top_pulled:
            top = ", ".join(f"{p.repository} ({p.pulls})" for p in digest.top_pulled[:3])
            lines.append(f"Most pulled: {top}")
        lines += [f"Unusual push: {line}" for line in digest.unusual_pushes]
        rows = [[a.severity, a.kind.replace("_", " "), a.summary] for a in digest.anomalies]
        severity: Severity = "info"
        if digest.unusual_pushes or digest.anomalies:
            severity = "warning"
        if any(a.severity == "high" for a in digest.anomalies):
            severity = "risk"
        return DigestSection(
            key="events",
            title="Registry activity",
            severity=severity,
            lines=lines,
            table=table(
                ["severity", "anomaly", "what"],
                rows,
                limit=ctx.options.rows,
                total=len(rows) + digest.more_anomalies,
            )
            if rows
            else None,
            notes=["Ask Regent for access_anomalies for the full list."] if digest.more_anomalies else [],
        )

    return events_section


def events_providers(runtime: App) -> list[Callable[[DigestContext], DigestSection | None]]:
    """The digest providers of the events feature for a runtime (its store and configured rules)."""
    config = runtime.settings.events
    exclusions = Exclusions(actors=tuple(config.ignore_actors), user_agents=tuple(config.ignore_user_agents))
    return [events_section_provider(runtime.events, rules=config.anomalies, exclusions=exclusions)]

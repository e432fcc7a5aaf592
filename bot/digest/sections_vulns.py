"""The digest's "Fix first" section: the most urgent vulnerabilities (at most 10 rows) with feed ages.

A provider for `bot.digest.build.default_providers(extra=...)`, wired in bot/digest/extensions.py. It
reuses the triage the toolbox answers from, so the digest and `/regent vulns` agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.digest.context import DigestContext
from bot.digest.model import DigestSection, Severity, table
from tools.vulns.service import VulnsAccess
from tools.vulns.views import group_by_cve

if TYPE_CHECKING:
    from bot.app import App

MAX_LINES = 10


def vulns_section_provider(access: VulnsAccess) -> Callable[[DigestContext], DigestSection | None]:
    """A section provider bound to the vulnerability store and the triage settings."""

    def vulnerabilities_section(ctx: DigestContext) -> DigestSection | None:
        """Fix first: worst CVEs across running images; None when no report was ever uploaded."""
        triage = access.analyze(ctx.snapshot, now=ctx.now).triage
        if not triage.images and not triage.unmatched:
            return None
        groups = group_by_cve(triage.findings)
        rows = [
            [
                g.priority,
                g.cve,
                "known exploited" if g.kev else f"EPSS {g.epss:.3f}" if g.epss is not None else g.severity,
                g.packages[0] if g.packages else "",
                ", ".join(g.fixed_versions[:2]) if g.fixable else "no fix yet",
                ", ".join(g.images[:2]) + (f" +{len(g.images) - 2}" if len(g.images) > 2 else ""),
                ", ".join(g.environments[:3]) or "not running",
            ]
            for g in groups
        ]
        urgent = sum(1 for g in groups if g.priority in {"P1", "P2"})
        severity: Severity = (
            "risk" if any(g.priority == "P1" for g in groups) else "warning" if urgent else "info"
        )
        lines = [f"{urgent} urgent (P1/P2) of {len(groups)} CVEs in {len(triage.images)} scanned images."]
        if groups:
            lines.append(f"First: {groups[0].cve} — {groups[0].reason}")
        notes = [_age(f.name, f.loaded, f.age_days) for f in triage.feeds]
        if triage.unmatched:
            notes.append(f"{len(triage.unmatched)} uploaded report(s) match no image in the registries.")
        notes.append("Ask Regent for vulnerability_report, or run /regent vulns.")
        return DigestSection(
            key="vulnerabilities",
            title="Fix first",
            severity=severity,
            lines=lines,
            table=table(
                ["prio", "cve", "signal", "package", "fix", "images", "runs in"],
                rows,
                limit=MAX_LINES,
            )
            if rows
            else None,
            notes=notes,
        )

    return vulnerabilities_section


def _age(name: str, loaded: bool, age_days: float | None) -> str:
    label = "CISA KEV" if name == "kev" else "EPSS"
    if not loaded:
        return f"{label}: not loaded (run `regent vulns feeds`)."
    return f"{label} data is {age_days:g} days old."


def vulns_providers(runtime: App) -> list[Callable[[DigestContext], DigestSection | None]]:
    """The digest providers of the vulnerability feature for a runtime (none when it is not wired)."""
    access = runtime.toolbox.context.vulns
    return [vulns_section_provider(access)] if access is not None else []

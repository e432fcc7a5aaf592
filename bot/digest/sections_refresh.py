"""The digest's "Inventory freshness" section: what `regent serve`'s crawls did since the last digest,
and what the full verifications found that the registry notifications missed (tools/inventory/refresh_log).
Left out when there was no event-driven refresh or verification in that time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.digest.context import DigestContext
from bot.digest.model import DigestSection, Severity, table
from tools.inventory.refresh_log import InventoryRun, RefreshLog

if TYPE_CHECKING:
    from bot.app import App


def refresh_section_provider(db_path: Path) -> Callable[[DigestContext], DigestSection | None]:
    """A section provider reading the refresh log of one state database."""

    def refresh_section(ctx: DigestContext) -> DigestSection | None:
        """Crawls, refreshes and verifications since the previous digest; None when there were none."""
        log = RefreshLog(db_path)
        try:
            runs = log.since(ctx.since)
        finally:
            log.close()
        return section_of(runs, rows=ctx.options.rows)

    return refresh_section


def section_of(runs: list[InventoryRun], *, rows: int) -> DigestSection | None:
    """The section for these runs (one per registry per run); None without refreshes or verifications
    (plain scheduled crawls of registries that send no notifications are nothing to report)."""
    refreshes = [r for r in runs if r.kind == "refresh" and r.repositories > 0]
    verifies = [r for r in runs if r.kind == "verify"]
    if not refreshes and not verifies:
        return None
    fulls = [r for r in runs if r.repositories < 0]
    lines = [
        f"{len({r.at for r in refreshes})} event-driven refreshes re-crawled "
        f"{sum(r.repositories for r in refreshes)} repositories ({sum(r.requests for r in refreshes):,} "
        f"requests); {len({r.at for r in fulls})} full crawls, {len({r.at for r in verifies})} of them "
        "verifications"
    ]
    missed = [r for r in verifies if r.missed]
    severity: Severity = "warning" if missed else "info"
    if missed:
        total = sum(r.missed for r in missed)
        lines.append(
            f"Verification found {total} changes that no registry notification announced: check the "
            "registries' notification settings"
        )
    elif verifies:
        lines.append("Every verification matched what the notifications said.")
    found = [[r.registry, r.at.strftime("%Y-%m-%d %H:%M"), change] for r in missed for change in r.changes]
    return DigestSection(
        key="inventory_freshness",
        title="Inventory freshness",
        severity=severity,
        lines=lines,
        table=table(["registry", "verified at (UTC)", "missed change"], found, limit=rows, total=len(found))
        if found
        else None,
    )


def refresh_providers(runtime: App) -> list[Callable[[DigestContext], DigestSection | None]]:
    """The provider of this section for a runtime."""
    return [refresh_section_provider(runtime.db_path)]

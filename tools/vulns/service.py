"""The vulnerability feature as the CLI, the toolbox, the digest and the HTTP endpoint use it.

One `analyze` call joins the stored reports with the latest inventory: triage (scores, reasons, groups),
base attribution through the image tools' base detection, and base-upgrade suggestions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from tools.analysis.usage import ImageReference, parse_reference
from tools.inventory.models import Digest, InventorySnapshot
from tools.vulns.bases import BaseRef, BaseUpgrade, base_lookup, detect_bases, suggest_upgrades
from tools.vulns.feeds import KevEntry, parse_epss, parse_kev, read_source
from tools.vulns.images import ImageIndex, build_index
from tools.vulns.reports import Finding, vulnerability_key
from tools.vulns.store import FeedInfo, VulnStore
from tools.vulns.triage import BaseOf, FeedAge, Triage, TriagedFinding, run_triage
from tools.vulns.views import CveGroup, group_by_cve


@dataclass(frozen=True, slots=True)
class VulnsAccess:
    """What the toolbox, the digest and the slash command need: the state DB and the triage settings."""

    db_path: Path
    production_patterns: list[str]
    approved_bases: list[str]

    def version(self) -> str:
        """A cache key that changes when reports or feeds change."""
        store = VulnStore(self.db_path)
        try:
            return store.version()
        finally:
            store.close()

    def analyze(self, snapshot: InventorySnapshot | None, *, now: datetime) -> Analysis:
        """Triage the stored reports against a snapshot."""
        store = VulnStore(self.db_path)
        try:
            return analyze(
                store,
                snapshot,
                production_patterns=self.production_patterns,
                approved_bases=self.approved_bases,
                now=now,
            )
        finally:
            store.close()

    def describe_cve(self, analysis: Analysis, cve: str) -> CveDetail:
        """One CVE across the estate, with its KEV entry and EPSS score."""
        store = VulnStore(self.db_path)
        try:
            return describe_cve(analysis, store, cve)
        finally:
            store.close()


@dataclass(slots=True)
class Analysis:
    """Triage plus bases and upgrade suggestions for one snapshot."""

    triage: Triage
    index: ImageIndex
    bases: dict[Digest, BaseRef]
    upgrades: list[BaseUpgrade]


def analyze(
    store: VulnStore,
    snapshot: InventorySnapshot | None,
    *,
    production_patterns: list[str],
    approved_bases: list[str],
    now: datetime,
) -> Analysis:
    """Triage every current report against the snapshot, with base attribution and upgrade suggestions."""
    index = build_index(snapshot) if snapshot is not None else ImageIndex()
    bases: dict[Digest, BaseRef] = {}

    def detect(digests: set[Digest]) -> BaseOf:
        if snapshot is not None:
            bases.update(detect_bases(snapshot, digests))
        return base_lookup(bases)

    triage = run_triage(
        store, snapshot, production_patterns=production_patterns, now=now, index=index, bases=detect
    )
    upgrades = suggest_upgrades(
        triage, bases, index=index, approved=approved_bases, report_for=report_lookup(store)
    )
    return Analysis(triage=triage, index=index, bases=bases, upgrades=upgrades)


def report_lookup(store: VulnStore) -> Callable[[ImageReference], list[Finding] | None]:
    """Findings of the newest stored report that names a reference (tag), matched or not."""
    reports = store.reports()

    def lookup(wanted: ImageReference) -> list[Finding] | None:
        named = [
            r
            for r in reports
            if any(
                _same_tag(parse_reference(text), wanted)
                for text in (r.target.artifact_name, *r.target.repo_tags)
                if text and "@" not in text
            )
        ]
        if not named:
            return None
        newest = max(named, key=lambda r: (r.scanned_at, r.id))
        return store.findings([newest.id]).get(newest.id, [])

    return lookup


def _same_tag(a: ImageReference, b: ImageReference) -> bool:
    return (a.host, a.repository, a.tag) == (b.host, b.repository, b.tag)


class CveDetail(BaseModel):
    """Everything Regent knows about one CVE across the estate."""

    cve: str
    found: bool
    summary: CveGroup | None
    findings: list[TriagedFinding]
    kev: KevEntry | None
    epss: float | None
    epss_percentile: float | None
    feeds: list[FeedAge]


def describe_cve(analysis: Analysis, store: VulnStore, cve: str) -> CveDetail:
    """One CVE: which images and environments have it, each finding's priority and reason, feed data."""
    wanted = cve.strip().upper()  # looked up case-insensitively, shown as the scanner spelled it
    findings = [f for f in analysis.triage.findings if f.cve.upper() == wanted]
    groups = group_by_cve(findings)
    epss = store.epss([wanted]).get(wanted)
    return CveDetail(
        cve=groups[0].cve if groups else vulnerability_key(cve),
        found=bool(findings),
        summary=groups[0] if groups else None,
        findings=findings,
        kev=store.kev([wanted]).get(wanted),
        epss=epss[0] if epss else None,
        epss_percentile=epss[1] if epss else None,
        feeds=analysis.triage.feeds,
    )


def refresh_feeds(
    store: VulnStore,
    *,
    kev_source: str | None,
    epss_source: str | None,
    now: datetime,
    fetch: Callable[[str], bytes] | None = None,
) -> list[FeedInfo]:
    """Load KEV and/or EPSS from files or http(s) URLs; each replaces its table only when fully valid."""
    if kev_source:
        kev = parse_kev(read_source(kev_source, fetch=fetch), source=kev_source)
        store.replace_kev(kev, loaded_at=now)
    if epss_source:
        epss = parse_epss(read_source(epss_source, fetch=fetch), source=epss_source)
        store.replace_epss(epss, loaded_at=now)
    return list(store.feeds().values())

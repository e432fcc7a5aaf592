"""Vulnerability tools: vulnerability_report (what to fix first), get_cve, suggest_base_upgrade.

Every answer comes from the deterministic triage (tools/vulns): the model explains priorities, it never
computes them. Reports are uploaded data: package names and titles travel as cleaned, bounded text.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.text import clean_text
from tools.toolbox.context import Call, ToolFailure
from tools.toolbox.results import ToolResult, cut_note
from tools.vulns.service import Analysis
from tools.vulns.triage import FeedAge, TriagedFinding
from tools.vulns.views import CveGroup, ImageGroup, group_by_cve, group_by_image

PriorityName = Literal["P1", "P2", "P3", "P4", "P5"]
_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VulnerabilityReportArgs(_Args):
    """What to fix first, from the Trivy/Grype reports teams upload joined with where images run. Each
    finding has one priority (P1 most urgent) and a reason: known exploited (CISA KEV) first, then EPSS,
    then severity/CVSS, weighted up in production environments and down when nothing runs the image.
    Group by CVE (which images and environments) or by image."""

    group_by: Literal["cve", "image"] = Field("cve", description="One row per CVE, or one row per image")
    image: str | None = Field(None, description="Only images whose name matches this glob, e.g. 'shop/*'")
    environment: str | None = Field(None, description="Only findings in images running in this environment")
    min_priority: PriorityName | None = Field(None, description="Only this priority or more urgent, e.g. P2")
    fixable_only: bool = Field(False, description="Only findings with a fixed version available")
    limit: int = Field(10, ge=1, le=30, description="Maximum rows to return")


class CveRow(BaseModel):
    """One CVE across images."""

    cve: str
    priority: str
    known_exploited: bool
    epss: float | None
    severity: str
    cvss: float | None
    fix: str
    packages: list[str]
    images: list[str]
    environments: list[str]
    from_base_image: bool | None
    reason: str


class ImageSummaryRow(BaseModel):
    """One image's findings in numbers."""

    image: str
    exposure: str
    environments: list[str]
    findings: int
    by_priority: dict[str, int]
    known_exploited: int
    fixable: int
    from_base_image: int
    base_image: str
    top: list[str]


class VulnerabilityReportResult(ToolResult):
    """The most urgent rows first, with the formula, feed ages and reports that match no image."""

    formula: str
    findings_total: int
    cves: list[CveRow] | None = None
    images: list[ImageSummaryRow] | None = None
    unmatched_reports: list[str]
    feeds: list[str]


def vulnerability_report(call: Call, args: VulnerabilityReportArgs) -> VulnerabilityReportResult:
    """Filter the triage, group it, and cap the rows."""
    analysis = analysis_of(call)
    findings = [f for f in analysis.triage.findings if _keep(f, args)]
    unmatched = [
        f"{clean_text(u.artifact_name or u.image_id or '?', limit=120)} ({u.scanner}, {u.findings} findings)"
        for u in analysis.triage.unmatched
    ]
    result = VulnerabilityReportResult(
        formula=analysis.triage.formula,
        findings_total=len(findings),
        unmatched_reports=unmatched[:5],
        feeds=feed_lines(analysis.triage.feeds),
    )
    hint = "narrow with image, environment, min_priority or fixable_only"
    if args.group_by == "cve":
        groups = group_by_cve(findings)
        result.cves = [_cve_row(g) for g in groups[: args.limit]]
        result.note = cut_note(len(result.cves), len(groups), "CVEs", hint)
    else:
        wanted = {f.digest for f in findings}
        rows = [g for g in group_by_image(analysis.triage) if g.digest in wanted]
        result.images = [_image_row(r) for r in rows[: args.limit]]
        result.note = cut_note(len(result.images), len(rows), "images", hint)
    result.truncated = result.note is not None
    if not analysis.triage.images and not analysis.triage.unmatched:
        result.note = (
            "no vulnerability reports yet: teams upload Trivy/Grype JSON (regent vulns ingest or POST)"
        )
    return result


def _keep(finding: TriagedFinding, args: VulnerabilityReportArgs) -> bool:
    if (
        args.image
        and not fnmatchcase(finding.image, args.image)
        and not fnmatchcase(finding.image, args.image + "*")
    ):
        return False
    if args.environment and not any(fnmatchcase(env, args.environment) for env in finding.environments):
        return False
    if args.min_priority and _RANK[finding.priority] > _RANK[args.min_priority]:
        return False
    return not (args.fixable_only and finding.fix_state != "fixed")


def _cve_row(group: CveGroup) -> CveRow:
    return CveRow(
        cve=clean_text(group.cve, limit=40),
        priority=group.priority,
        known_exploited=group.kev,
        epss=group.epss,
        severity=group.severity,
        cvss=group.cvss,
        fix=("fixed in " + ", ".join(group.fixed_versions[:3])) if group.fixable else "no fix available",
        packages=[clean_text(p, limit=80) for p in group.packages[:3]],
        images=[clean_text(i, limit=120) for i in group.images[:5]],
        environments=group.environments[:5],
        from_base_image=group.from_base,
        reason=clean_text(group.reason, limit=400),
    )


def _image_row(row: ImageGroup) -> ImageSummaryRow:
    return ImageSummaryRow(
        image=clean_text(row.image, limit=120),
        exposure=row.exposure,
        environments=row.environments[:5],
        findings=row.findings,
        by_priority=row.by_priority,
        known_exploited=row.known_exploited,
        fixable=row.fixable,
        from_base_image=row.from_base,
        base_image=clean_text(row.base, limit=120),
        top=[clean_text(t, limit=100) for t in row.top],
    )


class GetCveArgs(_Args):
    """Everything known about one vulnerability: which images have it, where they run, each finding's
    priority and reason, whether it comes from the base image, the fix, its CISA KEV entry and EPSS."""

    cve: str = Field(description="A CVE id such as CVE-2024-3094 (or a GHSA id the scanner reported)")


class CveFinding(BaseModel):
    """One image with this CVE."""

    image: str
    priority: str
    package: str
    fix: str
    exposure: str
    environments: list[str]
    from_base_image: bool | None
    reason: str


class GetCveResult(ToolResult):
    """One CVE across the estate."""

    cve: str
    found: bool
    known_exploited: bool
    kev_date_added: str | None = None
    kev_due_date: str | None = None
    kev_ransomware: bool | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    images: list[CveFinding]
    feeds: list[str]


def get_cve(call: Call, args: GetCveArgs) -> GetCveResult:
    """Describe one CVE from the triage and the feeds."""
    access = call.context.vulns
    if access is None:
        raise ToolFailure("vulnerability data is not configured here", hint="tell the user it is not set up")
    detail = access.describe_cve(analysis_of(call), args.cve)
    kev = detail.kev
    rows = [
        CveFinding(
            image=clean_text(f.image, limit=120),
            priority=f.priority,
            package=clean_text(f"{f.package} {f.installed_version}", limit=80),
            fix=("fixed in " + ", ".join(f.fixed_versions[:3])) if f.fix_state == "fixed" else f.fix_state,
            exposure=f.exposure,
            environments=f.environments[:5],
            from_base_image=f.from_base,
            reason=clean_text(f.reason, limit=400),
        )
        for f in detail.findings[:15]
    ]
    note = cut_note(
        len(rows), len(detail.findings), "images", "ask about one image with vulnerability_report"
    )
    if not detail.found:
        note = (
            f"no current report lists {detail.cve}; it may be fixed, or the affected images are not scanned"
        )
    return GetCveResult(
        cve=detail.cve,
        found=detail.found,
        known_exploited=kev is not None or any(f.kev for f in detail.findings),
        kev_date_added=kev.date_added if kev else None,
        kev_due_date=kev.due_date if kev else None,
        kev_ransomware=(kev.ransomware == "Known") if kev else None,
        epss=detail.epss,
        epss_percentile=detail.epss_percentile,
        images=rows,
        feeds=feed_lines(detail.feeds),
        truncated=len(rows) < len(detail.findings),
        note=note,
    )


class SuggestBaseUpgradeArgs(_Args):
    """Which findings come from each image's base image, and the newer base tag (from the registry or the
    approved-bases list) that removes the most of them, with how many it removes when a report for that
    base exists."""

    image: str | None = Field(None, description="Only images whose name matches this glob, e.g. 'shop/api*'")
    limit: int = Field(10, ge=1, le=30, description="Maximum images to return")


class BaseUpgradeRow(BaseModel):
    """One image's base and the suggested upgrade."""

    image: str
    current_base: str
    suggested_base: str | None
    suggested_from: str
    findings_from_base: int
    removes: int | None
    introduces: int | None
    removed: list[str]
    note: str


class SuggestBaseUpgradeResult(ToolResult):
    """Upgrade suggestions, the images with the most removable findings first."""

    upgrades: list[BaseUpgradeRow]


def suggest_base_upgrade(call: Call, args: SuggestBaseUpgradeArgs) -> SuggestBaseUpgradeResult:
    """Base attribution and newer-base suggestions for the triaged images."""
    upgrades = [
        u
        for u in analysis_of(call).upgrades
        if not args.image or fnmatchcase(u.image, args.image) or fnmatchcase(u.image, args.image + "*")
    ]
    upgrades.sort(key=lambda u: (-(u.removes or 0), -u.base_findings, u.image))
    rows = [
        BaseUpgradeRow(
            image=clean_text(u.image, limit=120),
            current_base=clean_text(u.current_base, limit=120),
            suggested_base=clean_text(u.suggested_base, limit=120) if u.suggested_base else None,
            suggested_from=u.suggested_from,
            findings_from_base=u.base_findings,
            removes=u.removes,
            introduces=u.introduces,
            removed=[clean_text(r, limit=100) for r in u.removed],
            note=clean_text(u.note, limit=200),
        )
        for u in upgrades[: args.limit]
    ]
    note = cut_note(len(rows), len(upgrades), "images", "narrow with an image glob")
    if not upgrades:
        note = "no scanned image has a detected base image (or no reports are uploaded yet)"
    return SuggestBaseUpgradeResult(upgrades=rows, truncated=len(rows) < len(upgrades), note=note)


def analysis_of(call: Call) -> Analysis:
    """The triage of the latest snapshot, built once per snapshot and report/feed version."""
    access = call.context.vulns
    if access is None:
        raise ToolFailure("vulnerability data is not configured here", hint="tell the user it is not set up")
    snapshot = call.context.snapshot()
    stamp = f"{snapshot.taken_at.isoformat()}:{id(snapshot)}" if snapshot is not None else "none"
    key = f"vulns:{stamp}:{access.version()}"
    analysis: Analysis = call.context.cached(key, lambda: access.analyze(snapshot, now=call.context.now()))
    return analysis


def feed_lines(feeds: list[FeedAge]) -> list[str]:
    """'kev: 1,234 entries, 2.0 days old' per feed, or 'not loaded' (then EPSS/KEV signals are missing)."""
    lines = []
    for feed in feeds:
        if not feed.loaded:
            lines.append(f"{feed.name}: not loaded (priorities use only what the scanners reported)")
        else:
            lines.append(f"{feed.name}: {feed.entries:,} entries, {feed.age_days:g} days old")
    return lines

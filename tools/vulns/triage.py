"""Triage: the current findings of every image, scored, explained and grouped per CVE and per image.

"Current" means the newest report per scanner for each image digest the latest inventory knows (reports
are re-matched on every run, so an image pushed after its report was posted still gets it). Two scanners
reporting the same package and CVE make one finding with the stronger of their signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from tools.inventory.models import Digest, InventorySnapshot
from tools.vulns.feeds import KevEntry
from tools.vulns.images import UNUSED, Exposure, ExposureLevel, ImageIndex, build_index, compute_exposure
from tools.vulns.matching import match_target
from tools.vulns.priority import FORMULA, Priority, Signals, score_finding
from tools.vulns.reports import SEVERITIES, Finding, FixState, Severity
from tools.vulns.store import FeedInfo, StoredReport, VulnStore

# digest -> (base name, number of the image's layers that come from it), None when unknown
BaseOf = Callable[[Digest], tuple[str, int | None] | None]


class TriagedFinding(BaseModel):
    """One vulnerable package in one image, with its priority and why."""

    cve: str
    vulnerability_id: str
    package: str
    installed_version: str
    fixed_versions: list[str]
    fix_state: FixState
    severity: Severity
    cvss: float | None
    kev: bool
    epss: float | None
    image: str
    digest: str
    exposure: ExposureLevel
    environments: list[str]
    from_base: bool | None  # None: the layer or the base is unknown
    base: str
    score: float
    priority: Priority
    reason: str
    title: str = ""


class UnmatchedReport(BaseModel):
    """A stored report that matches no image in the current inventory."""

    report_id: int
    scanner: str
    artifact_name: str
    image_id: str
    scanned_at: datetime
    findings: int
    note: str


class FeedAge(BaseModel):
    """How old an exploitability feed is (its own date, and when Regent loaded it)."""

    name: str
    loaded: bool
    source: str = ""
    released: datetime | None = None
    age_days: float | None = None
    loaded_at: datetime | None = None
    entries: int = 0


class ImageFindings(BaseModel):
    """The current findings of one image digest."""

    digest: str
    image: str
    exposure: Exposure
    reports: list[int]
    scanned_at: datetime
    findings: list[TriagedFinding]


class Triage(BaseModel):
    """Everything the report views are built from."""

    generated_at: datetime
    formula: str = FORMULA
    images: list[ImageFindings]
    findings: list[TriagedFinding]  # all, highest score first
    unmatched: list[UnmatchedReport]
    feeds: list[FeedAge]


def run_triage(
    store: VulnStore,
    snapshot: InventorySnapshot | None,
    *,
    production_patterns: list[str],
    now: datetime,
    index: ImageIndex | None = None,
    bases: Callable[[set[Digest]], BaseOf] | None = None,
) -> Triage:
    """Match every stored report to the inventory, keep the current ones, score every finding.

    `bases` receives the digests that have reports and returns the base hook used for attribution.
    """
    if index is None:
        index = build_index(snapshot) if snapshot is not None else ImageIndex()
    exposure = {}
    if snapshot is not None:
        exposure = compute_exposure(snapshot, index, production_patterns=production_patterns)
    current, unmatched = select_current(store.reports(), index)
    base_of = bases(set(current)) if bases is not None else None
    findings_by_report = store.findings({r.id for chosen in current.values() for r in chosen})
    merged = {d: merge_findings([findings_by_report.get(r.id, []) for r in rs]) for d, rs in current.items()}
    cves = {f.cve for found in merged.values() for f in found}
    signals = _FeedSignals(kev=store.kev(cves), epss=store.epss(cves))
    images = []
    for digest, found in merged.items():
        where = exposure.get(digest, UNUSED)
        base = base_of(digest) if base_of is not None else None
        scored = sorted((_triage(f, digest, index, where, base, signals) for f in found), key=sort_key)
        images.append(
            ImageFindings(
                digest=digest,
                image=index.name_of(digest),
                exposure=where,
                reports=sorted(r.id for r in current[digest]),
                scanned_at=max(r.scanned_at for r in current[digest]),
                findings=scored,
            )
        )
    images.sort(key=lambda i: (-(i.findings[0].score if i.findings else 0.0), i.image))
    everything = sorted((f for image in images for f in image.findings), key=sort_key)
    return Triage(
        generated_at=now,
        images=images,
        findings=everything,
        unmatched=unmatched,
        feeds=feed_ages(store.feeds(), now=now),
    )


@dataclass(frozen=True, slots=True)
class _FeedSignals:
    kev: dict[str, KevEntry]
    epss: dict[str, tuple[float, float]]


def sort_key(finding: TriagedFinding) -> tuple[float, bool, float, float, str, str, str]:
    """Highest score first, then KEV, EPSS, CVSS; names break ties so the order is stable."""
    return (
        -finding.score,
        not finding.kev,
        -(finding.epss or 0.0),
        -(finding.cvss or 0.0),
        finding.cve,
        finding.image,
        finding.package,
    )


def select_current(
    reports: list[StoredReport], index: ImageIndex
) -> tuple[dict[Digest, list[StoredReport]], list[UnmatchedReport]]:
    """Per image digest the newest report of each scanner; unmatched reports, newest per name kept."""
    newest: dict[tuple[Digest, str], StoredReport] = {}
    loose: dict[tuple[str, str], tuple[StoredReport, str]] = {}
    for report in reports:
        match = match_target(report.target, index)
        for digest in match.digests:
            key = (digest, report.scanner)
            if key not in newest or _newer(report, newest[key]):
                newest[key] = report
        if not match.digests:
            name_key = (report.target.artifact_name or report.target.image_id, report.scanner)
            if name_key not in loose or _newer(report, loose[name_key][0]):
                loose[name_key] = (report, match.note)
    current: dict[Digest, list[StoredReport]] = {}
    for (digest, _), report in sorted(newest.items()):
        current.setdefault(digest, []).append(report)
    unmatched = [
        UnmatchedReport(
            report_id=r.id,
            scanner=r.scanner,
            artifact_name=r.target.artifact_name,
            image_id=r.target.image_id,
            scanned_at=r.scanned_at,
            findings=r.findings,
            note=note,
        )
        for r, note in sorted(loose.values(), key=lambda pair: pair[0].id)
    ]
    return current, unmatched


def _newer(report: StoredReport, than: StoredReport) -> bool:
    return (report.scanned_at, report.id) > (than.scanned_at, than.id)


def merge_findings(per_scanner: list[list[Finding]]) -> list[Finding]:
    """One finding per (CVE, package, version) across scanners, keeping the stronger signals."""
    merged: dict[tuple[str, str, str], Finding] = {}
    for findings in per_scanner:
        for finding in findings:
            key = (finding.cve.upper(), finding.package, finding.installed_version)
            merged[key] = _combine(merged[key], finding) if key in merged else finding
    return list(merged.values())


def _combine(a: Finding, b: Finding) -> Finding:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    fixed = a if a.fix_state == "fixed" else b if b.fix_state == "fixed" else a
    epss = max(
        (f for f in (a, b) if f.scanner_epss is not None), key=lambda f: f.scanner_epss or 0.0, default=a
    )
    scores = [s for s in (a.cvss, b.cvss) if s is not None]
    return a.model_copy(
        update={
            "severity": min(a.severity, b.severity, key=lambda s: rank[s] if s != "UNKNOWN" else 99),
            "cvss": max(scores) if scores else None,
            "fix_state": fixed.fix_state,
            "fixed_versions": fixed.fixed_versions,
            "scanner_kev": a.scanner_kev or b.scanner_kev,
            "scanner_ransomware": a.scanner_ransomware or b.scanner_ransomware,
            "scanner_epss": epss.scanner_epss,
            "scanner_epss_percentile": epss.scanner_epss_percentile,
            "layer_diff_id": a.layer_diff_id or b.layer_diff_id,
            "layer_digest": a.layer_digest or b.layer_digest,
        }
    )


def _triage(
    finding: Finding,
    digest: Digest,
    index: ImageIndex,
    exposure: Exposure,
    base: tuple[str, int | None] | None,
    feeds: _FeedSignals,
) -> TriagedFinding:
    signals = _signals(finding, exposure, feeds)
    scored = score_finding(signals)
    from_base, base_name = attribute_layer(finding, digest, index, base)
    return TriagedFinding(
        cve=finding.cve,
        vulnerability_id=finding.vulnerability_id,
        package=finding.package,
        installed_version=finding.installed_version,
        fixed_versions=list(finding.fixed_versions),
        fix_state=finding.fix_state,
        severity=finding.severity,
        cvss=finding.cvss,
        kev=signals.kev,
        epss=signals.epss,
        image=index.name_of(digest),
        digest=digest,
        exposure=exposure.level,
        environments=exposure.environments,
        from_base=from_base,
        base=base_name,
        score=scored.score,
        priority=scored.priority,
        reason=scored.reason,
        title=finding.title,
    )


def _signals(finding: Finding, exposure: Exposure, feeds: _FeedSignals) -> Signals:
    # The operator's feeds win over what a scanner embedded (they are dated and shown with their age).
    cve = finding.cve.upper()
    entry = feeds.kev.get(cve)
    feed_epss = feeds.epss.get(cve)
    if entry is not None:
        kev_detail = f"CISA KEV, added {entry.date_added}" if entry.date_added else "CISA KEV"
    else:
        kev_detail = "the scanner reports it known exploited"
    return Signals(
        kev=entry is not None or finding.scanner_kev,
        kev_detail=kev_detail,
        ransomware=(entry is not None and entry.ransomware == "Known") or finding.scanner_ransomware,
        epss=feed_epss[0] if feed_epss else finding.scanner_epss,
        epss_percentile=feed_epss[1] if feed_epss else finding.scanner_epss_percentile,
        severity=finding.severity,
        cvss=finding.cvss,
        fix_state=finding.fix_state,
        fixed_versions=finding.fixed_versions,
        exposure=exposure,
    )


def attribute_layer(
    finding: Finding, digest: Digest, index: ImageIndex, base: tuple[str, int | None] | None
) -> tuple[bool | None, str]:
    """Whether a finding's layer is one of the base image's layers: (True/False/None unknown, base name)."""
    manifest = index.manifests.get(digest)
    if base is None:
        return None, ""
    name, count = base
    if count is None or manifest is None or not (finding.layer_diff_id or finding.layer_digest):
        return None, name
    base_diff_ids = set(manifest.diff_ids[:count])
    base_digests = {layer.digest for layer in manifest.layers[:count]}
    if finding.layer_diff_id in base_diff_ids or finding.layer_digest in base_digests:
        return True, name
    known = set(manifest.diff_ids) | {layer.digest for layer in manifest.layers}
    if finding.layer_diff_id in known or finding.layer_digest in known:
        return False, name
    return None, name  # the report names a layer this manifest does not have


def feed_ages(feeds: dict[str, FeedInfo], *, now: datetime) -> list[FeedAge]:
    """KEV and EPSS age, including "not loaded"."""
    out = []
    for name in ("kev", "epss"):
        info = feeds.get(name)
        if info is None:
            out.append(FeedAge(name=name, loaded=False))
            continue
        dated = info.released or info.loaded_at
        out.append(
            FeedAge(
                name=name,
                loaded=True,
                source=info.source,
                released=info.released,
                age_days=round((now - dated).total_seconds() / 86400, 1),
                loaded_at=info.loaded_at,
                entries=info.entries,
            )
        )
    return out

"""Parse a Trivy or Grype JSON report into one normalized shape: the scanned image's identity + findings.

Validation is complete before anything is returned, so a caller can write all-or-nothing. Errors name the
file and the location inside it; a truncated file is reported as such (JSON ends early).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.errors import InvalidJson, ReportError
from tools.json_input import load_json
from tools.vulns.schemas import (
    GrypeCvss,
    GrypeImageTarget,
    GrypeMatch,
    GrypeReport,
    TrivyCvss,
    TrivyReport,
    TrivyResult,
    TrivyVulnerability,
)

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"]
FixState = Literal["fixed", "not-fixed", "wont-fix", "unknown"]
Scanner = Literal["trivy", "grype"]

SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN")
_SEVERITY_ALIASES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NONE": "NEGLIGIBLE", "INFO": "NEGLIGIBLE"}
_TRIVY_WONT_FIX = frozenset({"will_not_fix", "end_of_life"})
_TRIVY_NOT_FIXED = frozenset({"affected", "fix_deferred", "under_investigation"})
_GRYPE_FIX_STATES: tuple[FixState, ...] = ("fixed", "not-fixed", "wont-fix", "unknown")


class Finding(BaseModel):
    """One vulnerable package in one image, as the scanner reported it."""

    model_config = ConfigDict(frozen=True)

    vulnerability_id: str
    cve: str  # the CVE the feeds are keyed by; the scanner's id when it names no CVE
    package: str
    package_type: str = ""
    installed_version: str = ""
    fixed_versions: tuple[str, ...] = ()
    fix_state: FixState = "unknown"
    severity: Severity = "UNKNOWN"
    cvss: float | None = None  # highest CVSS v3/v4 base score among sources (v2 when only v2 exists)
    title: str = ""
    url: str = ""
    layer_diff_id: str = ""
    layer_digest: str = ""
    scanner_kev: bool = False  # the scanner itself said "known exploited" (Grype)
    scanner_ransomware: bool = False
    scanner_epss: float | None = None
    scanner_epss_percentile: float | None = None
    scanner_epss_date: str = ""


class ReportTarget(BaseModel):
    """Everything a report says about which image it scanned."""

    artifact_name: str = ""
    repo_tags: list[str] = []
    repo_digests: list[str] = []
    image_id: str = ""  # config digest
    manifest_digest: str = ""  # Grype: digest of the (platform) manifest it read
    diff_ids: list[str] = []
    platform: str = ""


class ParsedReport(BaseModel):
    """A validated report, ready to store."""

    scanner: Scanner
    scanner_version: str = ""
    created_at: datetime | None = None
    target: ReportTarget
    findings: list[Finding]
    skipped: int = 0  # entries that are not findings (Trivy not_affected, Grype ignoredMatches)
    sha256: str  # of the canonical JSON, so re-posting a re-formatted copy is still the same report


def parse_report(data: object, *, source: str) -> ParsedReport:
    """Validate and normalize one Trivy or Grype report (bytes or decoded JSON); ReportError says why not."""
    document = _load_json(data, source=source)
    digest = _canonical_sha256(document, source=source)
    if isinstance(document, list):
        raise ReportError(
            f"{source}: a bare JSON array is the output of Trivy before 0.20 (no SchemaVersion); "
            "rescan with a current Trivy (`trivy image -f json`, SchemaVersion 2)"
        )
    if not isinstance(document, dict):
        raise ReportError(f"{source}: top level is {type(document).__name__}, not a JSON object")
    try:
        if "matches" in document:
            report = _from_grype(GrypeReport.model_validate(document), sha256=digest, source=source)
        elif {"Results", "ArtifactName", "SchemaVersion"} & document.keys():
            report = _from_trivy(_validate_trivy(document, source=source), sha256=digest)
        else:
            report = None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ReportError(f"{source}: {where}: {first['msg']}") from None
    if report is not None:
        return _named(report, source=source)
    keys = ", ".join(str(key)[:40] for key in sorted(document)[:8]) or "none"
    raise ReportError(
        f"{source}: not a Trivy (`trivy image -f json`) or Grype (`grype -o json`) report "
        f"(top-level keys: {keys})"
    )


def _canonical_sha256(document: Any, *, source: str) -> str:
    try:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # only a caller's own object, never load_json's output
        raise ReportError(
            f"{source}: not a JSON document (NaN, non-string keys or nested too deeply)"
        ) from None
    return hashlib.sha256(canonical.encode()).hexdigest()


def vulnerability_key(identifier: str) -> str:
    """How a vulnerability id is compared and grouped: CVE ids in upper case, every other id as issued.

    CVE ids are case-insensitive (`cve-2024-1` is CVE-2024-1). Vendor ids are not ours to rewrite:
    `openSUSE-SU-2024:0123-1` upper-cased is an id nobody can look up.
    """
    text = identifier.strip()
    return text.upper() if text[:4].upper() == "CVE-" else text


def _named(report: ParsedReport, *, source: str) -> ParsedReport:
    """The report, if it names its image in some way; one that names none could never be matched."""
    target = report.target
    if any(
        (target.artifact_name, target.repo_tags, target.repo_digests, target.image_id, target.manifest_digest)
    ):
        return report
    where = "source.target" if report.scanner == "grype" else "ArtifactName and Metadata"
    raise ReportError(
        f"{source}: the {report.scanner} report names no image ({where} missing or empty), "
        "so it could never be matched to one; scan an image by name or digest"
    )


def _load_json(data: object, *, source: str) -> Any:
    if not isinstance(data, bytes):
        return data  # already decoded (bot/web's request check)
    try:
        return load_json(data, what="file", expected="a Trivy or Grype JSON report")
    except InvalidJson as exc:
        raise ReportError(f"{source}: {exc}") from None


def _validate_trivy(document: dict[str, Any], *, source: str) -> TrivyReport:
    report = TrivyReport.model_validate(document)
    version = report.schema_version
    # Exactly the integer 2: Trivy's JSON has had SchemaVersion 2 since 0.20, and another number (or "2")
    # is a format whose fields Regent does not know, read as if it were this one.
    if type(version) is not int or version != 2:
        shown = "missing" if version is None else repr(version)[:20]
        raise ReportError(
            f"{source}: SchemaVersion {shown}; only Trivy's current JSON schema (SchemaVersion 2, "
            "`trivy image -f json`) is read"
        )
    if report.artifact_type and report.artifact_type != "container_image":
        raise ReportError(
            f"{source}: a Trivy {report.artifact_type!r} report; only image scans "
            "(`trivy image`, ArtifactType container_image) can be matched to images"
        )
    return report


def _severity(value: str) -> Severity:
    upper = value.strip().upper()
    upper = _SEVERITY_ALIASES.get(upper, upper)
    return next((s for s in SEVERITIES if s == upper), "UNKNOWN")


def _fix_state(value: str) -> FixState:
    return next((s for s in _GRYPE_FIX_STATES if s == value), "unknown")


def _identity(finding: Finding) -> tuple[str, str, str]:
    # One package version listed under two targets (two lock files) is one finding.
    return (finding.vulnerability_id, finding.package, finding.installed_version)


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        # Naive times are UTC (and must compare with the aware ingest times). Converted now: a far
        # offset near year 1 or 9999 would overflow in the first conversion elsewhere.
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return utc if 1970 <= utc.year < 9999 else None  # Go's zero time (0001-01-01) means "not set"


# -- Trivy --------------------------------------------------------------------------------------------


def _from_trivy(report: TrivyReport, *, sha256: str) -> ParsedReport:
    meta = report.metadata
    config = meta.image_config
    platform = "/".join(str(config[k]) for k in ("os", "architecture") if config.get(k))
    findings: dict[tuple[str, str, str], Finding] = {}
    skipped = 0
    for result in report.results or []:
        # `--show-suppressed` keeps .trivyignore'd and VEX'd vulnerabilities here: skipped, like not_affected.
        skipped += sum(m.type == "vulnerability" for m in result.modified_findings or [])
        for vuln in result.vulnerabilities or []:
            if vuln.status == "not_affected":
                skipped += 1
                continue
            finding = _trivy_finding(vuln, result)
            findings.setdefault(_identity(finding), finding)
    return ParsedReport(
        scanner="trivy",
        scanner_version=report.trivy.version,
        created_at=_parse_time(report.created_at),
        target=ReportTarget(
            artifact_name=report.artifact_name,
            repo_tags=meta.repo_tags,
            repo_digests=meta.repo_digests,
            image_id=meta.image_id,
            diff_ids=meta.diff_ids,
            platform=platform,
        ),
        findings=list(findings.values()),
        skipped=skipped,
        sha256=sha256,
    )


def _trivy_finding(vuln: TrivyVulnerability, result: TrivyResult) -> Finding:
    fixed = tuple(part.strip() for part in vuln.fixed_version.split(",") if part.strip())
    if fixed or vuln.status == "fixed":
        state: FixState = "fixed"
    elif vuln.status in _TRIVY_WONT_FIX:
        state = "wont-fix"
    elif vuln.status in _TRIVY_NOT_FIXED:
        state = "not-fixed"
    else:
        state = "unknown"
    aliases = [vuln.vulnerability_id, *vuln.vendor_ids]
    return Finding(
        vulnerability_id=vuln.vulnerability_id,
        cve=vulnerability_key(
            next((a for a in aliases if a.upper().startswith("CVE-")), vuln.vulnerability_id)
        ),
        package=vuln.pkg_name,
        package_type=result.type,
        installed_version=vuln.installed_version,
        fixed_versions=fixed,
        fix_state=state,
        severity=_severity(vuln.severity),
        cvss=_best_score(_trivy_scores(vuln.cvss)),
        title=vuln.title,
        url=vuln.primary_url,
        layer_diff_id=vuln.layer.diff_id,
        layer_digest=vuln.layer.digest,
    )


def _trivy_scores(cvss: dict[str, TrivyCvss]) -> list[tuple[str, float]]:
    scores: list[tuple[str, float]] = []
    for entry in cvss.values():
        scores += [("4", s) for s in (entry.v40_score,) if s is not None]
        scores += [("3", s) for s in (entry.v3_score,) if s is not None]
        scores += [("2", s) for s in (entry.v2_score,) if s is not None]
    return scores


def _best_score(scores: list[tuple[str, float]]) -> float | None:
    # v3/v4 scores are comparable and current; v2 only when nothing newer exists.
    modern = [score for version, score in scores if not version.startswith("2")]
    pool = modern or [score for _, score in scores]
    return round(max(pool), 1) if pool else None


# -- Grype --------------------------------------------------------------------------------------------


def _from_grype(report: GrypeReport, *, sha256: str, source: str) -> ParsedReport:
    src = report.source
    if src is not None and src.type and src.type != "image":
        raise ReportError(
            f"{source}: a Grype {src.type!r} scan; only image scans (source.type image) can be "
            "matched to images"
        )
    target = src.target if src is not None and isinstance(src.target, GrypeImageTarget) else None
    named = src.target if src is not None and isinstance(src.target, str) else ""
    findings: dict[tuple[str, str, str], Finding] = {}
    for match in report.matches:
        finding = _grype_finding(match)
        findings.setdefault(_identity(finding), finding)
    platform = "/".join(part for part in (target.os, target.architecture) if part) if target else ""
    return ParsedReport(
        scanner="grype",
        scanner_version=report.descriptor.version,
        created_at=_parse_time(report.descriptor.timestamp),
        target=ReportTarget(
            artifact_name=target.user_input if target else named,
            repo_tags=target.tags if target else [],
            repo_digests=target.repo_digests if target else [],
            image_id=target.image_id if target else "",
            manifest_digest=target.manifest_digest if target else "",
            platform=platform,
        ),
        findings=list(findings.values()),
        skipped=len(report.ignored_matches),
        sha256=sha256,
    )


def _grype_finding(match: GrypeMatch) -> Finding:
    vuln = match.vulnerability
    related = [r.id for r in match.related_vulnerabilities]
    cve = vulnerability_key(next((a for a in [vuln.id, *related] if a.upper().startswith("CVE-")), vuln.id))
    cvss: list[GrypeCvss] = [*vuln.cvss, *(c for r in match.related_vulnerabilities for c in r.cvss)]
    scores = [(c.version, c.metrics.base_score) for c in cvss if c.metrics.base_score is not None]
    epss = next((e for e in vuln.epss if e.cve.upper() == cve.upper()), vuln.epss[0] if vuln.epss else None)
    layer = next((loc for loc in match.artifact.locations if loc.layer_id), None)
    return Finding(
        vulnerability_id=vuln.id,
        cve=cve,
        package=match.artifact.name,
        package_type=match.artifact.type,
        installed_version=match.artifact.version,
        fixed_versions=tuple(vuln.fix.versions),
        fix_state=_fix_state(vuln.fix.state),
        severity=_severity(vuln.severity),
        cvss=_best_score([(version, score) for version, score in scores if score is not None]),
        title=vuln.description[:200],
        url=vuln.urls[0] if vuln.urls else "",
        layer_diff_id=layer.layer_id if layer else "",
        scanner_kev=bool(vuln.known_exploited),
        scanner_ransomware=any(k.known_ransomware_campaign_use == "Known" for k in vuln.known_exploited),
        scanner_epss=epss.epss if epss else None,
        scanner_epss_percentile=epss.percentile if epss else None,
        scanner_epss_date=epss.date if epss else "",
    )

"""Views over a triage: per CVE (which images, which environments) and per image."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from tools.vulns.images import ExposureLevel
from tools.vulns.priority import Priority
from tools.vulns.reports import Severity, vulnerability_key
from tools.vulns.triage import Triage, TriagedFinding

_EXPOSURE_RANK: dict[ExposureLevel, int] = {"production": 0, "running": 1, "stopped": 2, "unused": 3}


class CveGroup(BaseModel):
    """One CVE across every image that has it; priority and reason are those of its worst finding."""

    cve: str
    priority: Priority
    score: float
    kev: bool
    epss: float | None
    severity: Severity
    cvss: float | None
    fixable: bool
    fixed_versions: list[str]
    packages: list[str]  # "name version"
    images: list[str]
    environments: list[str]
    exposure: ExposureLevel  # the most exposed image's level
    from_base: bool | None
    reason: str
    findings: int


class ImageGroup(BaseModel):
    """One image's findings in numbers."""

    image: str
    digest: str
    exposure: ExposureLevel
    environments: list[str]
    findings: int
    by_priority: dict[str, int]
    known_exploited: int
    fixable: int
    from_base: int
    base: str
    top: list[str]  # "P1 CVE-… (package)"


def group_by_cve(findings: Iterable[TriagedFinding]) -> list[CveGroup]:
    """Findings grouped per CVE, the worst CVE first (input must be sorted highest score first)."""
    groups: dict[str, list[TriagedFinding]] = {}
    for finding in findings:
        groups.setdefault(vulnerability_key(finding.cve), []).append(finding)
    return [_cve_group(cve, items) for cve, items in groups.items()]


def _cve_group(cve: str, items: list[TriagedFinding]) -> CveGroup:
    worst = items[0]
    bases = {f.from_base for f in items}
    return CveGroup(
        cve=cve,
        priority=worst.priority,
        score=worst.score,
        kev=any(f.kev for f in items),
        epss=worst.epss,
        severity=worst.severity,
        cvss=worst.cvss,
        fixable=any(f.fix_state == "fixed" for f in items),
        fixed_versions=sorted({v for f in items for v in f.fixed_versions}),
        packages=sorted({f"{f.package} {f.installed_version}".strip() for f in items}),
        images=sorted({f.image for f in items}),
        environments=sorted({env for f in items for env in f.environments}),
        exposure=min((f.exposure for f in items), key=_EXPOSURE_RANK.__getitem__),
        from_base=bases.pop() if len(bases) == 1 else None,
        reason=worst.reason,
        findings=len(items),
    )


def group_by_image(triage: Triage) -> list[ImageGroup]:
    """Per image digest: counts by priority, KEV, fixable, from the base; the worst image first."""
    out = []
    for image in triage.images:
        findings = image.findings
        counts = {p: 0 for p in ("P1", "P2", "P3", "P4", "P5")}
        for finding in findings:
            counts[finding.priority] += 1
        out.append(
            ImageGroup(
                image=image.image,
                digest=image.digest,
                exposure=image.exposure.level,
                environments=image.exposure.environments,
                findings=len(findings),
                by_priority=counts,
                known_exploited=sum(f.kev for f in findings),
                fixable=sum(f.fix_state == "fixed" for f in findings),
                from_base=sum(f.from_base is True for f in findings),
                base=next((f.base for f in findings if f.base), ""),
                top=[f"{f.priority} {f.cve} ({f.package})" for f in findings[:5]],
            )
        )
    return out

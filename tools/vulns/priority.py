"""The priority formula: one score per finding, and the sentence that explains it.

    score = (threat + impact) * exposure * fix

    threat   = 400 when the CVE is known exploited (CISA KEV, or the scanner says so), else 200 * EPSS
    impact   = 10 * CVSS (highest v3/v4 base score); without CVSS the severity's midpoint
               (CRITICAL 9.5, HIGH 7.5, MEDIUM 5.5, LOW 2.5, NEGLIGIBLE 1, UNKNOWN 5)
    exposure = 1.5 runs in a production environment, 1.0 runs elsewhere, 0.75 only stopped containers,
               0.5 nothing deploys it
    fix      = 1.0 a fixed version exists, 0.9 otherwise

Known exploited always outranks the rest before exposure (400 > 200 + 100); EPSS separates the others, and
severity decides when nothing is likely to be exploited. Priorities: P1 >= 300, P2 >= 140, P3 >= 70, P4 >= 30,
else P5.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tools.vulns.images import Exposure, ExposureLevel
from tools.vulns.reports import FixState, Severity

Priority = Literal["P1", "P2", "P3", "P4", "P5"]

KEV_THREAT = 400.0
EPSS_THREAT = 200.0
IMPACT_PER_CVSS_POINT = 10.0
SEVERITY_MIDPOINT: dict[Severity, float] = {
    "CRITICAL": 9.5,
    "HIGH": 7.5,
    "MEDIUM": 5.5,
    "LOW": 2.5,
    "NEGLIGIBLE": 1.0,
    "UNKNOWN": 5.0,  # not yet rated: treated as medium rather than buried
}
EXPOSURE_WEIGHT: dict[ExposureLevel, float] = {
    "production": 1.5,
    "running": 1.0,
    "stopped": 0.75,
    "unused": 0.5,
}
NO_FIX_WEIGHT = 0.9
BANDS: tuple[tuple[float, Priority], ...] = ((300.0, "P1"), (140.0, "P2"), (70.0, "P3"), (30.0, "P4"))
FORMULA = (
    "score = (threat + impact) * exposure * fix; threat = 400 if known exploited else 200 * EPSS; "
    "impact = 10 * CVSS (severity midpoint without CVSS); exposure = 1.5 production, 1.0 running, "
    "0.75 stopped only, 0.5 unused; fix = 1.0 fixed version exists else 0.9; "
    "P1 >= 300, P2 >= 140, P3 >= 70, P4 >= 30, else P5"
)


class Signals(BaseModel):
    """Everything the formula reads for one finding."""

    kev: bool = False
    kev_detail: str = ""  # "CISA KEV, added 2024-01-10" / "scanner reports known exploited"
    ransomware: bool = False
    epss: float | None = None
    epss_percentile: float | None = None
    severity: Severity = "UNKNOWN"
    cvss: float | None = None
    fix_state: FixState = "unknown"
    fixed_versions: tuple[str, ...] = ()
    exposure: Exposure


class Scored(BaseModel):
    """A score, its priority band and the explanation."""

    score: float
    priority: Priority
    reason: str


def score_finding(signals: Signals) -> Scored:
    """Apply the formula and spell out every term."""
    threat = KEV_THREAT if signals.kev else EPSS_THREAT * (signals.epss or 0.0)
    rating = signals.cvss if signals.cvss is not None else SEVERITY_MIDPOINT[signals.severity]
    impact = IMPACT_PER_CVSS_POINT * rating
    exposure = EXPOSURE_WEIGHT[signals.exposure.level]
    fixed = signals.fix_state == "fixed"
    fix = 1.0 if fixed else NO_FIX_WEIGHT
    score = round((threat + impact) * exposure * fix, 1)
    priority: Priority = next((band for floor, band in BANDS if score >= floor), "P5")
    parts = [
        _threat_text(signals),
        _impact_text(signals),
        _exposure_text(signals.exposure),
        _fix_text(signals),
    ]
    arithmetic = f"({threat:g} + {impact:g}) * {exposure:g} * {fix:g} = {score:g}"
    return Scored(score=score, priority=priority, reason=f"{'; '.join(parts)} → {arithmetic} ({priority})")


def _threat_text(signals: Signals) -> str:
    if signals.kev:
        ransomware = ", used in ransomware campaigns" if signals.ransomware else ""
        return f"known exploited ({signals.kev_detail}{ransomware})"
    if signals.epss is None:
        return "not known exploited, no EPSS score"
    percentile = (
        f", {ordinal(round(signals.epss_percentile * 100))} percentile" if signals.epss_percentile else ""
    )
    return f"not known exploited, EPSS {signals.epss:.3f}{percentile}"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 100th."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{({1: 'st', 2: 'nd', 3: 'rd'}).get(number % 10, 'th')}"


def _impact_text(signals: Signals) -> str:
    if signals.cvss is not None:
        return f"{signals.severity} with CVSS {signals.cvss:g}"
    return f"{signals.severity}, no CVSS (counted as {SEVERITY_MIDPOINT[signals.severity]:g})"


def _exposure_text(exposure: Exposure) -> str:
    if exposure.level == "production":
        return f"runs in production ({', '.join(exposure.production_environments)})"
    if exposure.level == "running":
        return f"runs in {', '.join(exposure.environments)} (not production)"
    if exposure.level == "stopped":
        return "only in stopped containers"
    return "nothing deploys this image"


def _fix_text(signals: Signals) -> str:
    if signals.fix_state == "fixed":
        versions = ", ".join(signals.fixed_versions)
        return f"fixed in {versions}" if versions else "a fix exists"
    if signals.fix_state == "wont-fix":
        return "vendor will not fix"
    if signals.fix_state == "not-fixed":
        return "no fix released yet"
    return "fix status unknown"

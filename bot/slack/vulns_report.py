"""`/regent vulns [IMAGE|CVE]`: what to fix first, one CVE, or one image's findings and base upgrade.

Built on the same toolbox functions the LLM calls, rendered as a plain-text Report (bot.slack.report);
the Slack side escapes and lays it out.
"""

from __future__ import annotations

import re

from bot.slack.report import Report, Table
from tools.toolbox.context import Call
from tools.toolbox.vulns import (
    GetCveArgs,
    SuggestBaseUpgradeArgs,
    VulnerabilityReportArgs,
    get_cve,
    suggest_base_upgrade,
    vulnerability_report,
)

MAX_ROWS = 10
_VULN_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA-[\w-]+)$", re.IGNORECASE)


def vulns_report(call: Call, argument: str) -> Report:
    """No argument: the fix-first list. A CVE/GHSA id: that vulnerability. Anything else: an image glob."""
    if _VULN_ID.match(argument):
        return _cve_report(call, argument)
    image = argument or None
    result = vulnerability_report(
        call, VulnerabilityReportArgs.model_validate({"image": image, "limit": MAX_ROWS})
    )
    rows = tuple(
        (
            c.priority,
            c.cve,
            "known exploited"
            if c.known_exploited
            else f"EPSS {c.epss:.3f}"
            if c.epss is not None
            else c.severity,
            c.packages[0] if c.packages else "",
            c.fix,
            ", ".join(c.images[:2]) + (f" +{len(c.images) - 2}" if len(c.images) > 2 else ""),
            ", ".join(c.environments) or "not running",
        )
        for c in result.cves or []
    )
    table = Table(("prio", "cve", "signal", "package", "fix", "images", "runs in"), rows, title="Fix first")
    tables = [table] if rows else []
    if image:
        tables.extend(_upgrade_tables(call, image))
    where = f" in images matching {image}" if image else ""
    lines = [f"{result.findings_total} findings{where}."]
    if result.cves:
        lines.append(f"Why {result.cves[0].cve} is first: {result.cves[0].reason}")
    notes = [*result.feeds]
    if result.unmatched_reports:
        example = result.unmatched_reports[0]
        notes.append(f"{len(result.unmatched_reports)} report(s) match no image here, e.g. {example}")
    if result.note:
        notes.append(result.note)
    title = f"Vulnerabilities: {image}" if image else "Vulnerabilities: fix first"
    return Report(title=title, lines=tuple(lines), tables=tuple(tables), notes=tuple(notes))


def _cve_report(call: Call, cve: str) -> Report:
    result = get_cve(call, GetCveArgs.model_validate({"cve": cve}))
    if not result.found:
        return Report(title=result.cve, lines=(result.note or "not found",), notes=tuple(result.feeds))
    exploited = "known exploited" + (
        f" (CISA KEV since {result.kev_date_added})" if result.kev_date_added else ""
    )
    lines = [
        exploited if result.known_exploited else "not known exploited",
        f"EPSS {result.epss:.3f}" if result.epss is not None else "no EPSS score",
        f"Worst: {result.images[0].reason}",
    ]
    rows = tuple(
        (
            i.priority,
            i.image,
            i.package,
            i.fix,
            ", ".join(i.environments) or i.exposure,
            _base(i.from_base_image),
        )
        for i in result.images
    )
    table = Table(("prio", "image", "package", "fix", "runs in", "from base"), rows, title="Images")
    notes = (*result.feeds, *((result.note,) if result.note else ()))
    return Report(title=result.cve, lines=tuple(lines), tables=(table,), notes=notes)


def _upgrade_tables(call: Call, image: str) -> list[Table]:
    upgrades = suggest_base_upgrade(call, SuggestBaseUpgradeArgs.model_validate({"image": image})).upgrades
    rows = tuple(
        (
            u.image,
            u.current_base,
            u.suggested_base or "none newer",
            f"-{u.removes} / +{u.introduces}" if u.removes is not None else u.note,
        )
        for u in upgrades[:MAX_ROWS]
    )
    if not rows:
        return []
    return [Table(("image", "base", "newer base", "findings removed / added"), rows, title="Base images")]


def _base(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"

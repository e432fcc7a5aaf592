"""The compliance report as Markdown and as a PDF (fpdf2), from the evidence and its seal."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from tools.compliance.evidence import ComplianceEvidence, seal


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "unknown"


def report_lines(evidence: ComplianceEvidence) -> list[tuple[str, str]]:
    """(style, text) lines: style is h1, h2, h3, p or code; every renderer lays out the same lines."""
    out: list[tuple[str, str]] = [
        ("h1", "Registry compliance evidence"),
        ("p", f"Generated {_at(evidence.generated_at)} for {evidence.scope}."),
        ("h2", "1. Signing and lifecycle-policy adherence"),
    ]
    for registry in evidence.registries:
        out.append(("h3", f"{registry.name} ({registry.url})"))
        out.append(
            (
                "p",
                f"Source: {registry.source.name}, {_at(registry.source.at)}. "
                f"Signatures: {registry.signing_method}.",
            )
        )
        out.append(
            (
                "p",
                f"Tagged images: {registry.images}; signed: {registry.signed}; "
                f"unsigned: {registry.images - registry.signed}.",
            )
        )
        for repo in registry.repositories:
            line = f"- {repo.name}: {repo.signed}/{repo.images} signed"
            if repo.unsigned_tags:
                line += f"; unsigned tags: {', '.join(repo.unsigned_tags[:20])}"
            out.append(("p", line + f"; policy violations: {len(repo.violations)}"))
            for v in repo.violations[:50]:
                age = f"{v.age_days} days old (created clock)" if v.age_days is not None else "age unknown"
                seen = f", first seen {_at(v.first_seen)}" if v.first_seen else ""
                out.append(
                    ("p", f"    {', '.join(v.tags)} ({v.digest[:19]}...): {v.policy_reason}; {age}{seen}")
                )
    out += _access(evidence) + _history(evidence) + _vulns(evidence)
    out.append(("h2", "Evidence digest"))
    out.append(
        (
            "p",
            "SHA-256 of the canonical JSON of the evidence this report states "
            "(regent report compliance --format json):",
        )
    )
    out.append(("code", seal(evidence)))
    return out


def _access(evidence: ComplianceEvidence) -> list[tuple[str, str]]:
    access = evidence.access
    out = [("h2", "2. Who can push and delete")]
    out.append(
        ("p", f"Source: {access.source.name}, {_at(access.source.at)}." if access.source else "Source: none.")
    )
    out.append(("p", access.note))
    admins = [p for p in access.people if p.can_read_registry_credentials]
    out.append(("p", f"Portainer users: {len(access.people)}; administrators: {len(admins)}."))
    for person in access.people:
        teams = f", teams: {', '.join(person.teams)}" if person.teams else ""
        out.append(("p", f"- {person.username}: {person.role}{teams}"))
    for registry in access.registries:
        out.append(("p", f"- registry record {registry}"))
    if access.auth_events is not None:
        out.append(("p", f"Authentication-log entries read (Business Edition): {access.auth_events}."))
    return out


def _history(evidence: ComplianceEvidence) -> list[tuple[str, str]]:
    history = evidence.history
    verdict = "verified" if history.chain_ok else f"BROKEN: {history.problem}"
    out = [("h2", "3. Deletions and approvals")]
    out.append(
        (
            "p",
            f"Source: {history.source.name}, {_at(history.source.at)}; "
            f"hash chain {verdict} ({history.entries_checked} entries).",
        )
    )
    out.append(("p", f"Change records: {len(history.records)}."))
    out += [("p", f"- #{r.seq} {r.at} {r.actor} {r.kind}: {r.summary}") for r in history.records[-200:]]
    return out


def _vulns(evidence: ComplianceEvidence) -> list[tuple[str, str]]:
    vulns = evidence.vulns
    out = [("h2", "4. Vulnerability posture of running images")]
    if vulns.source is None:
        out.append(
            ("p", f"No vulnerability data configured; {vulns.running_images} running images not assessed.")
        )
        return out
    out.append(("p", f"Source: {vulns.source.name}, {_at(vulns.source.at)}."))
    out.append(
        (
            "p",
            f"Running images: {vulns.running_images}; with scanner reports: {vulns.scanned_running_images}.",
        )
    )
    for row in vulns.images:
        where = ", ".join(row.environments) or "no environment"
        out.append(
            (
                "p",
                f"- {row.image} ({where}): {row.critical} critical, {row.high} high, "
                f"{row.kev} known exploited, {row.findings} findings",
            )
        )
    return out


def to_markdown(evidence: ComplianceEvidence) -> str:
    """The report as Markdown."""
    prefix = {"h1": "# ", "h2": "## ", "h3": "### ", "p": "", "code": ""}
    parts = []
    for style, text in report_lines(evidence):
        parts.append(f"`{text}`" if style == "code" else prefix[style] + text)
    return "\n\n".join(parts) + "\n"


def to_pdf(evidence: ComplianceEvidence) -> bytes:
    """The report as a PDF (core fonts: text is kept to Latin-1, which the evidence's names are)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    sizes = {"h1": 16, "h2": 13, "h3": 11, "p": 9, "code": 9}
    for style, text in report_lines(evidence):
        family = "Courier" if style == "code" else "Helvetica"
        pdf.set_font(family, "B" if style.startswith("h") else "", sizes[style])
        safe = text.encode("latin-1", "replace").decode("latin-1")
        pdf.multi_cell(0, sizes[style] * 0.55, safe, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())

"""`/regent compliance [REGISTRY]`: the headline figures, and the full report uploaded as a PDF."""

from __future__ import annotations

from bot.slack.report import Report, Table
from tools.compliance.evidence import seal
from tools.compliance.render import to_pdf
from tools.toolbox.compliance import evidence_for
from tools.toolbox.context import Call


def compliance_report(call: Call, argument: str) -> Report:
    """Figures per registry, the audit chain's state, running images with critical findings, the PDF."""
    evidence = evidence_for(call, argument.strip() or None)
    rows = tuple(
        (r.name, str(r.images), str(r.signed), str(sum(len(x.violations) for x in r.repositories)))
        for r in evidence.registries
    )
    chain = "verified" if evidence.history.chain_ok else f"BROKEN ({evidence.history.problem})"
    critical = sum(1 for i in evidence.vulns.images if i.critical)
    digest = seal(evidence)
    day = evidence.generated_at.strftime("%Y-%m-%d")
    return Report(
        title=f"Compliance evidence, {evidence.scope}",
        lines=(
            f"Audit chain {chain}; {len(evidence.history.records)} approvals and executions recorded.",
            f"Running images: {evidence.vulns.running_images}; with critical findings: {critical}.",
            f"Evidence SHA-256: {digest}",
        ),
        tables=(
            Table(headers=("registry", "tagged", "signed", "policy violations"), rows=rows, right=(1, 2, 3)),
        ),
        notes=("The full report is attached as a PDF.",),
        file_name=f"regent-compliance-{day}.pdf",
        file_content=to_pdf(evidence),
    )

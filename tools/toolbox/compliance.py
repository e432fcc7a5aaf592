"""compliance_report: the headline figures of the compliance evidence, and its SHA-256 digest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.compliance.build import AuditView, build_evidence
from tools.compliance.evidence import ComplianceEvidence, seal
from tools.toolbox.catalog import history_of
from tools.toolbox.context import Call
from tools.toolbox.results import ToolResult
from tools.toolbox.vulns import analysis_of


class ComplianceReportArgs(BaseModel):
    """Compliance evidence for auditors: image signing, retention-policy violations, who can push and
    delete, the approval and deletion history (hash chain verified) and vulnerabilities of running
    images. Returns headline figures and the evidence digest; the full report (Markdown, PDF, JSON) comes
    from `regent report compliance` or `/regent compliance`."""

    model_config = ConfigDict(extra="forbid")

    registry: str | None = Field(None, description="Only this registry (name); all when omitted")


class RegistryFigures(BaseModel):
    """One registry's signing and policy figures."""

    registry: str
    tagged_images: int
    signed: int
    policy_violations: int


class ComplianceReportResult(ToolResult):
    """Headline figures; every one is in the full report with its time and source."""

    registries: list[RegistryFigures]
    portainer_users: int | None
    administrators: int | None
    audit_chain_verified: bool
    change_records: int
    running_images: int
    running_with_critical: int
    evidence_sha256: str
    full_report: str = "regent report compliance --format pdf (or /regent compliance in Slack)"


def evidence_for(call: Call, registry: str | None) -> ComplianceEvidence:
    """The evidence from what the toolbox context reaches."""
    snapshot = call.require_snapshot()
    context = call.context
    audit = (
        context.audit_view()
        if context.audit_view is not None
        else AuditView(problem="audit log not available")
    )
    return build_evidence(
        snapshot,
        policies=context.policies(),
        history=history_of(call),
        portainer=context.portainer,
        audit=audit,
        analysis=analysis_of(call) if context.vulns is not None else None,
        now=context.now(),
        registry=registry,
    )


def compliance_report(call: Call, args: ComplianceReportArgs) -> ComplianceReportResult:
    """Headline figures of the evidence and its digest."""
    evidence = evidence_for(call, args.registry)
    access = evidence.access
    return ComplianceReportResult(
        registries=[
            RegistryFigures(
                registry=r.name,
                tagged_images=r.images,
                signed=r.signed,
                policy_violations=sum(len(repo.violations) for repo in r.repositories),
            )
            for r in evidence.registries
        ],
        portainer_users=len(access.people) if access.source else None,
        administrators=sum(p.can_read_registry_credentials for p in access.people) if access.source else None,
        audit_chain_verified=evidence.history.chain_ok,
        change_records=len(evidence.history.records),
        running_images=evidence.vulns.running_images,
        running_with_critical=sum(1 for i in evidence.vulns.images if i.critical),
        evidence_sha256=seal(evidence),
    )

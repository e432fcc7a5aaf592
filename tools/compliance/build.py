"""Build the whole evidence from the sources a caller can reach (the CLI, the toolbox, Slack)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tools.analysis.history import RegistryHistory
from tools.compliance.collect import access_evidence, history_evidence, registry_evidence, vulns_evidence
from tools.compliance.evidence import ChangeRecord, ComplianceEvidence
from tools.inventory.models import InventorySnapshot
from tools.policy.model import PolicyFile
from tools.portainer.client import PortainerClient
from tools.vulns.service import Analysis


@dataclass(frozen=True, slots=True)
class AuditView:
    """The audit log as the report needs it: its entries and the verification of its hash chain."""

    records: list[ChangeRecord] = field(default_factory=list)
    chain_ok: bool = True
    checked: int = 0
    problem: str = ""


def build_evidence(
    snapshot: InventorySnapshot,
    *,
    policies: PolicyFile | None,
    history: Mapping[str, RegistryHistory],
    portainer: Callable[[], PortainerClient] | None,
    audit: AuditView,
    analysis: Analysis | None,
    now: datetime,
    registry: str | None = None,
) -> ComplianceEvidence:
    """Every part of the evidence, read now; `registry` narrows the registry part to one."""
    registries = registry_evidence(snapshot, policies=policies, history=history, now=now, only=registry)
    if portainer is None:
        access = access_evidence(None, now=now)
    else:
        with portainer() as client:
            access = access_evidence(client, now=now)
    return ComplianceEvidence(
        generated_at=now,
        scope=f"registry {registry}" if registry else "all registries",
        registries=registries,
        access=access,
        history=history_evidence(
            audit.records, chain_ok=audit.chain_ok, checked=audit.checked, problem=audit.problem, now=now
        ),
        vulns=vulns_evidence(analysis, snapshot, now=now),
    )

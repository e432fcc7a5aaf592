"""The fixed set of tools the LLM may call: each tool's name, args model, function, progress text and
whether (and for which intent) it proposes a change. `Toolbox` (dispatch.py) runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tools.analysis.text import clean_text
from tools.toolbox.actions import (
    ProposeTicketArgs,
    ProposeUserSuspensionArgs,
    propose_ticket,
    propose_user_suspension,
)
from tools.toolbox.audit import AuditLogArgs, audit_log
from tools.toolbox.bases import RecommendBaseImageArgs, recommend_base_image
from tools.toolbox.compliance import ComplianceReportArgs, compliance_report
from tools.toolbox.context import Call
from tools.toolbox.deletion import ProposeDeletionArgs, propose_deletion
from tools.toolbox.events import (
    AccessAnomaliesArgs,
    CacheAdviceArgs,
    access_anomalies,
    cache_advice,
)
from tools.toolbox.images import GetImageArgs, SearchImagesArgs, get_image, search_images
from tools.toolbox.layers import CompareImagesArgs, compare_images
from tools.toolbox.maintenance import (
    ProposeCacheConfigurationArgs,
    ProposeGarbageCollectionArgs,
    ProposeStackRevertArgs,
    propose_cache_configuration,
    propose_garbage_collection,
    propose_stack_revert,
)
from tools.toolbox.overview import (
    ImageUsageArgs,
    ListEnvironmentsArgs,
    ListRegistriesArgs,
    RegistryUsageArgs,
    image_usage,
    list_environments,
    list_registries,
    registry_usage,
)
from tools.toolbox.results import ToolResult
from tools.toolbox.retention import (
    FindStaleImagesArgs,
    PreviewRetentionPolicyArgs,
    ProposeRetentionCleanupArgs,
    find_stale_images,
    preview_retention_policy,
    propose_retention_cleanup,
)
from tools.toolbox.vulns import (
    GetCveArgs,
    SuggestBaseUpgradeArgs,
    VulnerabilityReportArgs,
    get_cve,
    suggest_base_upgrade,
    vulnerability_report,
)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its name, args model, function, whether it proposes, and its progress text."""

    name: str
    args: type[BaseModel]
    run: Callable[[Call, Any], ToolResult]
    status: Callable[[dict[str, Any]], str]
    proposes: bool = False
    intent: str = "cleanup"  # for proposing tools: what the user must ask for (bot/agent/intent.py)


def _say(template: str, *keys: str) -> Callable[[dict[str, Any]], str]:
    def status(args: dict[str, Any]) -> str:
        values = [clean_text(str(args.get(k) or ""), limit=60) for k in keys]
        return template.format(*values).replace(" …", "…").replace("  ", " ")

    return status


def default_tools() -> tuple[ToolSpec, ...]:
    """The toolbox's tools, read-only first."""
    return (
        ToolSpec("list_registries", ListRegistriesArgs, list_registries, _say("Listing registries…")),
        ToolSpec("list_environments", ListEnvironmentsArgs, list_environments, _say("Listing environments…")),
        ToolSpec(
            "search_images", SearchImagesArgs, search_images, _say("Searching images {}…", "repository")
        ),
        ToolSpec("get_image", GetImageArgs, get_image, _say("Looking up {}…", "image")),
        ToolSpec(
            "compare_images",
            CompareImagesArgs,
            compare_images,
            _say("Comparing {} and {}…", "image_a", "image_b"),
        ),
        ToolSpec("find_stale_images", FindStaleImagesArgs, find_stale_images, _say("Finding stale images…")),
        ToolSpec("registry_usage", RegistryUsageArgs, registry_usage, _say("Measuring registry usage…")),
        ToolSpec(
            "preview_retention_policy",
            PreviewRetentionPolicyArgs,
            preview_retention_policy,
            _say("Previewing policy {}…", "policy_name"),
        ),
        ToolSpec("image_usage", ImageUsageArgs, image_usage, _say("Checking where images run…")),
        ToolSpec("audit_log", AuditLogArgs, audit_log, _say("Reading the audit log…")),
        ToolSpec(
            "access_anomalies", AccessAnomaliesArgs, access_anomalies, _say("Checking registry access…")
        ),
        ToolSpec("cache_advice", CacheAdviceArgs, cache_advice, _say("Ranking upstream registries…")),
        ToolSpec(
            "vulnerability_report",
            VulnerabilityReportArgs,
            vulnerability_report,
            _say("Ranking vulnerabilities {}…", "image"),
        ),
        ToolSpec("get_cve", GetCveArgs, get_cve, _say("Looking up {}…", "cve")),
        ToolSpec(
            "suggest_base_upgrade",
            SuggestBaseUpgradeArgs,
            suggest_base_upgrade,
            _say("Checking base images {}…", "image"),
        ),
        ToolSpec(
            "recommend_base_image",
            RecommendBaseImageArgs,
            recommend_base_image,
            _say("Choosing a {} base image…", "language"),
        ),
        ToolSpec(
            "compliance_report",
            ComplianceReportArgs,
            compliance_report,
            _say("Collecting compliance evidence…"),
        ),
        ToolSpec(
            "propose_deletion",
            ProposeDeletionArgs,
            propose_deletion,
            _say("Preparing a deletion proposal…"),
            proposes=True,
        ),
        ToolSpec(
            "propose_retention_cleanup",
            ProposeRetentionCleanupArgs,
            propose_retention_cleanup,
            _say("Preparing a cleanup proposal…"),
            proposes=True,
        ),
        ToolSpec(
            "propose_garbage_collection",
            ProposeGarbageCollectionArgs,
            propose_garbage_collection,
            _say("Preparing a garbage collection proposal for {}…", "registry"),
            proposes=True,
        ),
        ToolSpec(
            "propose_cache_configuration",
            ProposeCacheConfigurationArgs,
            propose_cache_configuration,
            _say("Preparing a cache configuration for {}…", "registry"),
            proposes=True,
            intent="configuration",
        ),
        ToolSpec(
            "propose_stack_revert",
            ProposeStackRevertArgs,
            propose_stack_revert,
            _say("Preparing the revert of {}…", "change_id"),
            proposes=True,
            intent="configuration",
        ),
        ToolSpec(
            "propose_user_suspension",
            ProposeUserSuspensionArgs,
            propose_user_suspension,
            _say("Preparing a suspension proposal for {}…", "user"),
            proposes=True,
            intent="suspension",
        ),
        ToolSpec(
            "propose_ticket",
            ProposeTicketArgs,
            propose_ticket,
            _say("Preparing a ticket proposal {}…", "cve"),
            proposes=True,
            intent="ticket",
        ),
    )

"""The contract of a native retention export: a Regent policy in, the registry's own document out.

A native rule language is weaker than Regent's (no deployment-aware keep, no signatures following their
subject, other clocks): an export never pretends otherwise. `differences` names every Regent rule the
native document cannot express and every planned item the native rule would treat differently, so the
operator sees both sides before handing retention to the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tools.errors import ConfigError
from tools.inventory.models import InventorySnapshot
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan

# format -> "module:function"; a format's module adds itself here (one line).
EXPORTERS: dict[str, str] = {
    "harbor-retention": "tools.policy.export.harbor_retention:export_harbor_retention",
    "ecr-lifecycle": "tools.policy.export.ecr_lifecycle:export_ecr_lifecycle",
    "gitlab-cleanup": "tools.policy.export.gitlab_cleanup:export_gitlab_cleanup",
    "acr-purge": "tools.policy.export.acr_purge:export_acr_purge",
    "gar-cleanup": "tools.policy.export.gar_cleanup:export_gar_cleanup",
}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What an exporter reads: the policies, Regent's plan for them, and the snapshot it was made from."""

    policies: PolicyFile
    plan: Plan
    snapshot: InventorySnapshot
    now: datetime
    registry: str | None = None  # only this registry's repositories (by name), when several match


@dataclass(frozen=True, slots=True)
class ItemDifference:
    """One image Regent and the native rule would treat differently, and why."""

    registry: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    regent: str  # "delete" | "keep"
    native: str  # "delete" | "keep" | "unknown"
    why: str


@dataclass(frozen=True, slots=True)
class NativeExport:
    """The native document(s) and what they cannot say."""

    format: str
    documents: dict[str, Any]  # name (repository, project, …) -> the document as the registry takes it
    unexpressed: tuple[str, ...] = ()  # Regent rules the native language has no equivalent for
    differences: tuple[ItemDifference, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # how to apply it, what the registry previews


Exporter = Callable[[ExportRequest], NativeExport]


def exporter(name: str) -> Exporter:
    """The export function of a format; ConfigError naming the formats there are for an unknown one."""
    path = EXPORTERS.get(name)
    if path is None:
        known = ", ".join(sorted(EXPORTERS)) or "none"
        raise ConfigError(f"unknown export format {name!r}; known: {known}")
    module, _, function = path.partition(":")
    found: Exporter = getattr(importlib.import_module(module), function)
    return found


# ----- native previews (added by core for `regent plan --export`) --------------------------------------
# format -> "module:function" of a Previewer: for formats whose registry can dry-run an exported document
# (ECR lifecycle preview, Harbor retention dry run, GAR cleanup dry run). The CLI shows its rows next to
# Regent's plan. A previewer never changes the registry.
PREVIEWERS: dict[str, str] = {
    "harbor-retention": "tools.policy.export.harbor_dry_run:harbor_retention_preview",
    "ecr-lifecycle": "tools.policy.export.previews:ecr_lifecycle_preview",
}


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One image: what Regent's plan does with it and what the registry's own dry run says."""

    digest: str
    tags: tuple[str, ...]
    regent: str  # "delete" | "keep" | "not in plan"
    native: str  # the registry's verdict in its words: "expire", "retain", "delete", "keep"
    regent_reason: str
    native_reason: str = ""  # e.g. "rule 2"

    @property
    def agrees(self) -> bool:
        """True when both sides delete it or both keep it."""
        return (self.regent == "delete") == (self.native in ("expire", "delete", "remove"))


@dataclass(frozen=True, slots=True)
class NativePreview:
    """One repository's (or project's) dry run by the registry, paired with Regent's plan."""

    registry: str
    repository: str
    status: str  # the registry's status of the dry run, e.g. COMPLETE; rows are complete only then
    rows: tuple[PreviewRow, ...]


class PreviewClients(Protocol):
    """Live registry clients by registry name (the CLI builds them from the same sources as the crawl)."""

    def get(self, name: str) -> object | None: ...


Previewer = Callable[[NativeExport, ExportRequest, PreviewClients], list[NativePreview]]


def previewer(name: str) -> Previewer | None:
    """The preview function of a format, or None when its registry has no dry run."""
    path = PREVIEWERS.get(name)
    if path is None:
        return None
    module, _, function = path.partition(":")
    found: Previewer = getattr(importlib.import_module(module), function)
    return found

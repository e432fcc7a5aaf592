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
from typing import Any

from tools.errors import ConfigError
from tools.inventory.models import InventorySnapshot
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan

# format -> "module:function"; a format's module adds itself here (one line).
EXPORTERS: dict[str, str] = {
    "ecr-lifecycle": "tools.policy.export.ecr_lifecycle:export_ecr_lifecycle",
    "gitlab-cleanup": "tools.policy.export.gitlab_cleanup:export_gitlab_cleanup",
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

"""What every native export does the same way: pick the registries and policies, list a repository's
images as a registry's own API lists them, pair items with Regent's plan, and wrap the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.model import Policy
from tools.policy.plans import Plan
from tools.policy.rules import compile_policy, matches_registry, matches_repository


def registries_of(request: ExportRequest, kind: str) -> list[RegistryInventory]:
    """The snapshot's registries of one kind; only the one named by `request.registry` when it names one."""
    return [
        inventory
        for inventory in request.snapshot.registries
        if inventory.source.kind == kind and request.registry in (None, inventory.source.name)
    ]


def policies_for(
    policies: Iterable[Policy], inventory: RegistryInventory, repositories: Iterable[str]
) -> list[Policy]:
    """The policies (in file order) that select the registry and at least one of these repositories."""
    chosen: list[Policy] = []
    names = list(repositories)
    for policy in policies:
        compiled = compile_policy(policy)
        if matches_registry(compiled, inventory.source) and any(
            matches_repository(compiled, r) for r in names
        ):
            chosen.append(policy)
    return chosen


@dataclass(frozen=True, slots=True)
class ListedImage:
    """One image of a repository as a registry's own listing shows it, with the snapshot's clocks."""

    digest: str
    tags: tuple[str, ...]
    pushed: datetime | None
    pulled: datetime | None


def listed_images(inventory: RegistryInventory, repository: str) -> list[ListedImage]:
    """The images a registry lists on its own (tagged and untagged), by digest: an index's untagged
    children are part of their index and left out."""
    tags: dict[str, list[str]] = {}
    for tag, digest in inventory.tags.get(repository, {}).items():
        tags.setdefault(digest, []).append(tag)
    digests = set(tags) | set(inventory.repository_digests.get(repository, set()))
    children = {
        child.digest
        for digest in digests
        if (manifest := inventory.manifests.get(digest)) is not None
        for child in manifest.children
    }
    return [
        ListedImage(d, tuple(sorted(tags.get(d, ()))), inventory.pushed.get(d), inventory.last_pulled.get(d))
        for d in sorted(digests - (children - set(tags)))
    ]


def plan_reasons(plan: Plan, registry: str, repository: str) -> tuple[dict[str, str], dict[str, str]]:
    """Regent's reasons by digest in one repository: (planned deletes, kept items)."""
    planned = {
        i.digest: i.reason for i in plan.items if i.registry == registry and i.repository == repository
    }
    kept = {k.digest: k.reason for k in plan.kept if k.registry == registry and k.repository == repository}
    return planned, kept


def native_export(
    format: str,
    documents: dict[str, Any],
    unexpressed: Iterable[str],
    differences: Iterable[ItemDifference],
    notes: Iterable[str],
    *,
    selects: str,
) -> NativeExport:
    """The export, each unexpressed line said once (first place kept); with no document, the first note
    says that the policies select no `selects` ("ECR repository", "Harbor project", …) of the snapshot."""
    first = () if documents else (f"no {selects} in the snapshot is selected by these policies",)
    return NativeExport(
        format=format,
        documents=documents,
        unexpressed=tuple(dict.fromkeys(unexpressed)),
        differences=tuple(differences),
        notes=(*first, *notes),
    )


def registry_names(request: ExportRequest, kind: str) -> list[str]:
    """The names of the snapshot's registries of one kind (only `request.registry` when it names one)."""
    return sorted({inventory.source.name for inventory in registries_of(request, kind)})

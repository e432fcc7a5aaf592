"""Click-time re-validation for execution (design invariant 3): current usage and current tag state.

Reads only (HEAD, GET, tag lists); tools/changes/retention.py decides and deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from tools.analysis.usage import parse_reference, registry_hosts
from tools.errors import RegentError
from tools.inventory.models import Deployment
from tools.policy.plans import Plan, PlanItem
from tools.policy.rules import describe_users
from tools.registry.client import ManifestHead, RawManifest
from tools.registry.media_types import INDEX_TYPES


class RegistryReader(Protocol):
    """The read side of a registry client that re-validation needs."""

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None: ...
    def get_manifest(self, repository: str, reference: str) -> RawManifest: ...
    def list_tags(self, repository: str, *, fresh: bool = False) -> list[str]: ...


class RegistryDeleter(RegistryReader, Protocol):
    """What execution needs from a registry client (tools.registry.client.RegistryClient has it)."""

    def delete_manifest(self, repository: str, digest: str) -> bool: ...


@dataclass(slots=True)
class UsageCheck:
    """Digests (and engine image ids) in use right now, and references that could not be resolved."""

    digests: dict[str, list[Deployment]] = field(default_factory=dict)
    configs: dict[str, list[Deployment]] = field(default_factory=dict)
    unresolved: dict[tuple[str, str], str] = field(default_factory=dict)  # (registry, repository) -> why

    def problem(self, item: PlanItem) -> str | None:
        """Why this item must not be deleted now, or None."""
        users = self.digests.get(item.digest) or (self.configs.get(item.config_digest or "") or None)
        if users:
            return describe_users(users)
        return self.unresolved.get((item.registry, item.repository))


def resolve_in_use(
    plan: Plan, deployments: Sequence[Deployment], client_for: Callable[[str], RegistryReader]
) -> UsageCheck:
    """Resolve current deployments to digests, HEADing tag references into the plan's registries."""
    check = UsageCheck()
    hosts = {reg.name: registry_hosts(reg.url) for reg in plan.registries}
    for deployment in deployments:
        if deployment.digest:
            check.digests.setdefault(deployment.digest, []).append(deployment)
        if deployment.image_id:
            check.configs.setdefault(deployment.image_id, []).append(deployment)
        ref = parse_reference(deployment.image) if deployment.image else None
        if ref is None:
            continue
        if ref.digest:
            check.digests.setdefault(ref.digest, []).append(deployment)
        elif ref.tag:
            for registry, names in hosts.items():
                if ref.host in names:
                    _resolve_tag(check, client_for(registry), registry, ref.repository, ref.tag, deployment)
    return check


def _resolve_tag(
    check: UsageCheck, client: RegistryReader, registry: str, repository: str, tag: str, user: Deployment
) -> None:
    try:
        head = client.head_manifest(repository, tag)
    except RegentError as exc:
        # cannot tell which digest it uses: nothing in that repository may go in this run
        check.unresolved[(registry, repository)] = f"could not resolve {user.image} (in use): {exc}"
        return
    if head is not None:
        check.digests.setdefault(head.digest, []).append(user)


@dataclass(slots=True)
class RepositoryState:
    """A repository's tags right now, and which digests a tagged index lists."""

    repository: str
    tags: dict[str, str]  # tag -> digest
    listed_by: dict[str, set[str]]  # child digest -> index digests listing it
    tags_of: dict[str, set[str]] = field(default_factory=dict)  # digest -> tags, kept in step with tags
    children: dict[str, set[str]] = field(default_factory=dict)  # index digest -> children it lists

    def __post_init__(self) -> None:
        for tag, digest in self.tags.items():
            self.tags_of.setdefault(digest, set()).add(tag)
        for child, parents in self.listed_by.items():
            for parent in parents:
                self.children.setdefault(parent, set()).add(child)

    def problem(self, item: PlanItem) -> str | None:
        """Why deleting this item now would remove more than the plan said, or None."""
        for tag in item.tags:
            current = self.tags.get(tag)
            if current is not None and current != item.digest:
                return f"tag {tag!r} moved to {current} since the plan was made"
        planned = set(item.tags)
        others = sorted(self.tags_of.get(item.digest, set()) - planned)
        if others:
            return f"tag {others[0]!r} now points to this digest; deleting it would remove that tag"
        parents = sorted(self.listed_by.get(item.digest, ()))
        if parents:
            return f"index {parents[0]} (tagged) lists this digest"
        return None

    def forget(self, digest: str) -> None:
        """A digest was deleted: its tags are gone, and the indexes it was no longer list anything."""
        for tag in self.tags_of.pop(digest, set()):
            del self.tags[tag]
        for child in self.children.pop(digest, set()):
            self.listed_by.get(child, set()).discard(digest)


def load_repository_state(client: RegistryReader, repository: str, *, workers: int = 4) -> RepositoryState:
    """List the repository's tags, HEAD each, and read the children of every tagged index."""
    tags = client.list_tags(repository, fresh=True)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        heads = list(pool.map(lambda tag: client.head_manifest(repository, tag), tags))
    current = {tag: head.digest for tag, head in zip(tags, heads, strict=True) if head is not None}
    indexes = {head.digest for head in heads if head is not None and head.media_type in INDEX_TYPES}
    listed_by: dict[str, set[str]] = {}
    for index in sorted(indexes):
        document = client.get_manifest(repository, index).json()
        for entry in document.get("manifests") or []:
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                listed_by.setdefault(entry["digest"], set()).add(index)
    return RepositoryState(repository=repository, tags=current, listed_by=listed_by)

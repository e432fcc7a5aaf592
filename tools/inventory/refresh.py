"""Event-driven refresh: re-crawl only the repositories that notifications named, carry the rest over.

A registry that sends notifications (push, delete) tells Regent which repositories changed, so a refresh
costs requests for those repositories only (their tag lists and changed manifests), not one per tag of
the registry. The rest of the previous snapshot is carried over as it was. Events can be missed (a
registry gives up retrying while Regent is down, a notification endpoint is switched off), so a periodic
full crawl verifies the carried-over state: `missed_changes` is what it found that no event announced.

Which repositories changed comes from the caller (bot/serve/inventory.py reads tools/events, a layer
above this one); everything here but `refresh_registries` is pure.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from tools.inventory.crawl import DEFAULT_WORKERS, merge_native
from tools.inventory.inventory import RegistryTarget, resolve_deployments
from tools.inventory.models import Deployment, Digest, Environment, InventorySnapshot, RegistryInventory
from tools.registry.kinds.base import NativeTimes

FULL = None  # in a RefreshResult's `crawled`: the whole registry was crawled


@dataclass(frozen=True, slots=True)
class TagChange:
    """A tag that appeared, vanished or moved to another digest between two inventories."""

    registry: str
    repository: str
    tag: str
    before: Digest | None  # None: the tag is new
    after: Digest | None  # None: the tag is gone

    @property
    def kind(self) -> str:
        """added, removed or moved."""
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "moved"

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag} {self.kind}"


@dataclass(slots=True)
class RefreshResult:
    """A refreshed snapshot and what it cost."""

    snapshot: InventorySnapshot
    # registry name -> the repositories re-crawled (sorted), or FULL when the whole registry was crawled
    crawled: dict[str, list[str] | None] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        """HTTP requests the refresh sent."""
        return sum(self.snapshot.requests.values())

    def describe(self) -> str:
        """One line for the log: what was crawled."""
        parts = []
        for name, repositories in self.crawled.items():
            if repositories is FULL:
                parts.append(f"{name}: full crawl")
            elif repositories:
                parts.append(f"{name}: {len(repositories)} repositories")
        return "; ".join(parts) or "nothing changed"


def tag_changes(
    before: RegistryInventory, after: RegistryInventory, *, repositories: Collection[str] | None = None
) -> list[TagChange]:
    """Every tag added, removed or moved from `before` to `after` (only in `repositories` when given)."""
    names = set(before.tags) | set(after.tags)
    if repositories is not None:
        names &= set(repositories)
    changes = []
    for repository in sorted(names):
        old, new = before.tags.get(repository, {}), after.tags.get(repository, {})
        for tag in sorted(set(old) | set(new)):
            if old.get(tag) != new.get(tag):
                changes.append(TagChange(after.source.name, repository, tag, old.get(tag), new.get(tag)))
    return changes


def missed_changes(
    previous: RegistryInventory, full: RegistryInventory, *, announced: Collection[str]
) -> list[TagChange]:
    """What a full crawl found changed since `previous` in repositories no event announced."""
    announced = set(announced)
    return [c for c in tag_changes(previous, full) if c.repository not in announced]


def merge_refresh(
    previous: RegistryInventory, fresh: RegistryInventory, *, repositories: Collection[str]
) -> RegistryInventory:
    """`previous` with `repositories` replaced by `fresh`, a crawl of just those repositories.

    A repository that `fresh` did not list is gone. Manifests are kept while some repository still refers
    to them; errors are the fresh crawl's (the carried-over part was complete, or it is not refreshed).
    """
    replaced = set(repositories)
    tags = {repo: tags for repo, tags in previous.tags.items() if repo not in replaced}
    digests = {repo: d for repo, d in previous.repository_digests.items() if repo not in replaced}
    tags.update(fresh.tags)
    digests.update(fresh.repository_digests)
    manifests = {}
    for repository in sorted(tags):
        for digest in digests.get(repository, ()):
            manifest = fresh.manifests.get(digest) or previous.manifests.get(digest)
            if manifest is not None:
                manifests[digest] = manifest
    merged = RegistryInventory(
        source=fresh.source,
        tags={repo: tags[repo] for repo in sorted(tags)},
        repository_digests={repo: digests.get(repo, set()) for repo in sorted(tags)},
        manifests=manifests,
        errors=list(fresh.errors),
        partial=fresh.partial,
        push_clock=fresh.push_clock or previous.push_clock,
        pull_clock=fresh.pull_clock or previous.pull_clock,
    )
    # native clocks of the digests still there: the previous crawl's, folded with the fresh answers
    for digest in manifests:
        merge_native(
            merged,
            digest,
            NativeTimes(
                previous.pushed.get(digest),
                previous.last_pulled.get(digest),
                previous.native_sizes.get(digest),
            ),
        )
        merge_native(
            merged,
            digest,
            NativeTimes(
                fresh.pushed.get(digest), fresh.last_pulled.get(digest), fresh.native_sizes.get(digest)
            ),
        )
    return merged


def refresh_registries(
    targets: Iterable[RegistryTarget],
    previous: InventorySnapshot,
    *,
    changed: Mapping[str, Collection[str]] | None,
    now: datetime,
    workers: int = DEFAULT_WORKERS,
    cancel: threading.Event | None = None,
) -> RefreshResult:
    """A new snapshot from `previous`: per registry, only the repositories in `changed` are crawled.

    `changed` maps a registry's image host to the repositories its notifications named since `previous`
    was taken; a registry missing from it is crawled in full (it sends no notifications), and so is one
    that `previous` lacks or saw only partly. Environments and deployments are carried over (their digests
    resolved again against the new tags): execution re-reads them anyway, and a full crawl renews them.
    """
    snapshot = InventorySnapshot(
        taken_at=now, environments=list(previous.environments), deployments=list(previous.deployments)
    )
    by_url = {inventory.source.url: inventory for inventory in previous.registries}
    requests: Counter[str] = Counter()
    result = RefreshResult(snapshot)
    for target in targets:
        before = by_url.get(target.source.url)
        wanted = None if changed is None else changed.get(target.source.image_host)
        inventory, crawled = _refresh_one(target, before, wanted, workers=workers, cancel=cancel)
        snapshot.registries.append(inventory)
        snapshot.errors.extend(inventory.errors)
        requests.update(target.client.requests)
        result.crawled[target.source.name] = crawled
    snapshot.deployments = resolve_deployments(snapshot.deployments, snapshot.registries)
    snapshot.requests = dict(requests)
    return result


def _refresh_one(
    target: RegistryTarget,
    before: RegistryInventory | None,
    wanted: Collection[str] | None,
    *,
    workers: int,
    cancel: threading.Event | None,
) -> tuple[RegistryInventory, list[str] | None]:
    """One registry: carried over, refreshed in the named repositories, or crawled in full."""
    crawl = partial(target.crawl, workers=workers, cancel=cancel)
    if before is None or before.partial or wanted is None:
        return crawl(), FULL
    repositories = sorted(set(wanted))
    if not repositories:
        return before, []
    fresh = crawl(repositories=repositories)
    if fresh.partial:  # carrying over around a failed repository could hide it: crawl everything instead
        return crawl(), FULL
    return merge_refresh(before, fresh, repositories=repositories), repositories


def with_environments(
    snapshot: InventorySnapshot,
    *,
    environments: list[Environment],
    deployments: list[Deployment],
    errors: list[str],
    requests: Mapping[str, int],
) -> InventorySnapshot:
    """The snapshot with freshly read environments and deployments (digests resolved against its tags)."""
    snapshot.environments = list(environments)
    snapshot.deployments = resolve_deployments(list(deployments), snapshot.registries)
    snapshot.errors.extend(errors)
    snapshot.requests = dict(Counter(snapshot.requests) + Counter(requests))
    return snapshot

"""What earlier snapshots add: first sightings, and dangling digests (tagged before, untagged now).

Inputs are explicit (earlier tag maps, a first-seen dict): this module never reads the snapshot store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tools.analysis.clocks import ClockData, as_utc
from tools.analysis.graph import repository_digest_sets
from tools.inventory.models import Digest, InventorySnapshot, Manifest, RegistryInventory


@dataclass(frozen=True, slots=True)
class TaggedState:
    """What one earlier snapshot saw tagged in one registry: repository -> tag -> digest."""

    taken_at: datetime
    tags: Mapping[str, Mapping[str, Digest]]


@dataclass(frozen=True, slots=True)
class DanglingDigest:
    """A digest seen tagged in an earlier snapshot that no tag (and no index) points to now."""

    repository: str
    digest: Digest
    last_tags: tuple[str, ...]
    last_tagged_at: datetime
    dangling_since: datetime  # first snapshot (or now) that no longer saw it tagged


@dataclass(frozen=True, slots=True)
class RegistryHistory:
    """Everything beyond the current crawl that analysis and policies use for one registry."""

    clocks: ClockData = field(default_factory=ClockData)
    dangling: Sequence[DanglingDigest] = ()
    manifests: Mapping[Digest, Manifest] = field(default_factory=dict)  # of dangling digests

    def dangling_by_repository(self) -> dict[str, dict[Digest, DanglingDigest]]:
        """Dangling digests grouped by repository."""
        out: dict[str, dict[Digest, DanglingDigest]] = {}
        for item in self.dangling:
            out.setdefault(item.repository, {})[item.digest] = item
        return out


def find_dangling(
    current: RegistryInventory,
    previous: Iterable[TaggedState],
    *,
    now: datetime,
    gone: Mapping[tuple[str, Digest], datetime] | None = None,
) -> list[DanglingDigest]:
    """Digests tagged in some earlier state and neither tagged nor an index child in the current crawl.

    `gone`: (repository, digest) -> when Regent deleted it (or found it gone); such a digest is no leftover
    unless a later snapshot saw it tagged again.
    """
    deleted = gone or {}
    states = sorted(previous, key=lambda s: s.taken_at)
    alive = repository_digest_sets(current, current.manifests)
    last: dict[tuple[str, Digest], tuple[int, tuple[str, ...]]] = {}
    for index, state in enumerate(states):
        for repository, tags in state.tags.items():
            by_digest: dict[Digest, list[str]] = {}
            for tag, digest in tags.items():
                by_digest.setdefault(digest, []).append(tag)
            for digest, tag_names in by_digest.items():
                last[(repository, digest)] = (index, tuple(sorted(tag_names)))
    out: list[DanglingDigest] = []
    for (repository, digest), (index, names) in sorted(last.items()):
        if digest in alive.get(repository, ()):
            continue
        removed = deleted.get((repository, digest))
        if removed is not None and as_utc(removed) >= as_utc(states[index].taken_at):
            continue
        since = states[index + 1].taken_at if index + 1 < len(states) else now
        out.append(
            DanglingDigest(
                repository=repository,
                digest=digest,
                last_tags=names,
                last_tagged_at=as_utc(states[index].taken_at),
                dangling_since=as_utc(since),
            )
        )
    return out


def build_history(
    current: RegistryInventory,
    snapshots: Sequence[InventorySnapshot],
    *,
    now: datetime,
    first_seen: Mapping[Digest, datetime] | None = None,
    pushed: Mapping[Digest, datetime] | None = None,
    last_pulled: Mapping[Digest, datetime] | None = None,
    gone: Mapping[tuple[str, Digest], datetime] | None = None,
) -> RegistryHistory:
    """RegistryHistory for `current` from earlier snapshots (matched by registry URL) and clock dicts.

    `gone` names what Regent's own executions deleted from this registry: not leftovers (find_dangling).
    """
    states: list[TaggedState] = []
    manifests: dict[Digest, Manifest] = {}
    for snapshot in snapshots:
        for inventory in snapshot.registries:
            if inventory.source.url == current.source.url:
                states.append(TaggedState(snapshot.taken_at, inventory.tags))
                manifests.update(inventory.manifests)
    dangling = find_dangling(current, states, now=now, gone=gone)
    wanted = {d.digest for d in dangling}
    for digest in list(wanted):  # a dangling index brings its children along
        manifest = manifests.get(digest)
        if manifest is not None:
            wanted.update(child.digest for child in manifest.children)
    return RegistryHistory(
        # notifications' clocks and the registry API's own (kept apart so each age names its origin)
        clocks=ClockData(
            first_seen=first_seen or {}, pushed=pushed or {}, last_pulled=last_pulled or {}
        ).with_native(current),
        dangling=dangling,
        manifests={d: m for d, m in manifests.items() if d in wanted and d not in current.manifests},
    )

"""Stored bytes per registry and per repository from snapshots, and the repositories that drive growth.

A repository's bytes count each blob its revisions reference once (manifest documents, configs, layers,
index children). Blobs shared between repositories count in each of them, so repository figures do not
add up to the registry's stored bytes, which count every blob once registry-wide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tools.analysis.clocks import as_utc
from tools.analysis.graph import repository_digest_sets
from tools.analysis.reclaim import manifest_references
from tools.analysis.trends import SeriesPoint
from tools.inventory.models import Digest, RegistryInventory
from tools.inventory.store import RegistryStats


def registry_series(stats: Iterable[RegistryStats], registry_url: str) -> list[SeriesPoint]:
    """Stored bytes of one registry per snapshot, oldest first; partial crawls are left out."""
    return [
        SeriesPoint(s.taken_at, s.stored_bytes)
        for s in sorted(stats, key=lambda s: (as_utc(s.taken_at), s.snapshot_id))
        if s.registry_url == registry_url and not s.partial
    ]


def repository_bytes(inventory: RegistryInventory) -> dict[str, int]:
    """Bytes of distinct blobs each repository references (see the module docstring)."""
    out: dict[str, int] = {}
    for repository, digests in repository_digest_sets(inventory, inventory.manifests).items():
        sizes: dict[Digest, int] = {}
        for digest in digests:
            manifest = inventory.manifests.get(digest)
            if manifest is not None:
                sizes.update(manifest_references(manifest))
        out[repository] = sum(sizes.values())
    return out


@dataclass(frozen=True, slots=True)
class RepositoryGrowth:
    """How much one repository's bytes changed between two snapshots."""

    registry: str
    repository: str
    before: int
    after: int
    since: datetime

    @property
    def change(self) -> int:
        """Bytes added (negative: removed)."""
        return self.after - self.before


def growth_drivers(
    registry: str,
    before: Mapping[str, int],
    after: Mapping[str, int],
    *,
    since: datetime,
    limit: int = 5,
) -> list[RepositoryGrowth]:
    """Repositories that grew the most between two snapshots (new ones count from zero), largest first."""
    grown = [
        RepositoryGrowth(registry, repo, before.get(repo, 0), size, since)
        for repo, size in after.items()
        if size > before.get(repo, 0)
    ]
    grown.sort(key=lambda g: (-g.change, g.repository))
    return grown[:limit]


def pick_snapshot(stats: Sequence[RegistryStats], *, at_or_before: datetime) -> RegistryStats | None:
    """The latest complete snapshot stat taken at or before a moment, or None."""
    found = None
    limit = as_utc(at_or_before)
    for stat in sorted(stats, key=lambda s: (as_utc(s.taken_at), s.snapshot_id)):
        if as_utc(stat.taken_at) <= limit and not stat.partial:
            found = stat
    return found

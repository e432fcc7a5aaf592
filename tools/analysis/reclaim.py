"""Dedup-correct reclaimable bytes (design invariant 8).

The blob store is registry-wide and content-addressed; a manifest lives per repository (a "revision").
Garbage collection keeps every blob that some surviving revision references: its own manifest document,
its config and its layers, and for an index its children's manifest documents. So deleting a set of
(repository, digest) revisions frees exactly the blobs all of whose referencing revisions are in the set.

Two figures come out:
- `total`: bytes of those blobs, each counted once; what `garbage-collect` frees after the deletes.
- `exclusive[(repository, digest)]`: bytes of blobs that revision alone references in the whole registry,
  i.e. what deleting it would free even if nothing else were deleted. Blobs freed only because several
  deleted revisions shared them are in `shared` (= total - sum of exclusive), so the parts add up.

Only revisions Regent knows of count as survivors: tagged ones, index children, and dangling digests from
earlier snapshots. The v2 API cannot list untagged manifests, so one pushed and re-tagged between two
crawls is invisible; it keeps its blobs alive and the real figure comes out smaller than reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tools.inventory.models import Digest, Manifest

Revision = tuple[str, Digest]  # (repository, manifest digest)


@dataclass(frozen=True, slots=True)
class Reclaim:
    """Bytes a set of deletions frees after garbage collection, in total and per revision."""

    total: int
    shared: int
    freed_blobs: int
    exclusive: dict[Revision, int] = field(default_factory=dict)
    unknown_manifests: int = 0  # revisions without manifest details: their blobs could not be counted


def manifest_references(manifest: Manifest) -> dict[Digest, int]:
    """Blobs (digest -> size) a revision of this manifest keeps alive, its own document included."""
    refs = {manifest.digest: manifest.size}
    if manifest.config is not None:
        refs.setdefault(manifest.config.digest, manifest.config.size)
    for layer in manifest.layers:
        refs.setdefault(layer.digest, layer.size)
    for child in manifest.children:
        refs.setdefault(child.digest, child.size)
    return refs


def compute_reclaim(
    repository_digests: Mapping[str, Iterable[Digest]],
    manifests: Mapping[Digest, Manifest],
    deleted: Iterable[Revision],
) -> Reclaim:
    """Bytes freed by deleting these revisions, given every revision the registry stores."""
    deleted_set = set(deleted)
    multiplicity: dict[Digest, int] = {}
    for digests in repository_digests.values():
        for digest in digests:
            multiplicity[digest] = multiplicity.get(digest, 0) + 1
    for _, digest in deleted_set:
        multiplicity.setdefault(digest, 1)  # a deleted revision the caller knows is stored
    # Reference counts of every blob; the references themselves are worked out again for the deleted
    # revisions only, rather than kept for all (a million manifests' reference maps were ~400 MB).
    refcount: dict[Digest, int] = {}
    unknown = 0
    for digest, count in multiplicity.items():
        manifest = manifests.get(digest)
        unknown += count if manifest is None else 0
        for blob in _references(digest, manifest):
            refcount[blob] = refcount.get(blob, 0) + count
    return _tally(deleted_set, manifests, refcount, unknown)


def _references(digest: Digest, manifest: Manifest | None) -> dict[Digest, int]:
    return manifest_references(manifest) if manifest is not None else {digest: 0}


def _tally(
    deleted: set[Revision],
    manifests: Mapping[Digest, Manifest],
    refcount: Mapping[Digest, int],
    unknown: int,
) -> Reclaim:
    deleted_refs: dict[Digest, int] = {}
    sizes: dict[Digest, int] = {}
    exclusive: dict[Revision, int] = {}
    for revision in deleted:
        refs = _references(revision[1], manifests.get(revision[1]))
        own = 0
        for blob, size in refs.items():
            deleted_refs[blob] = deleted_refs.get(blob, 0) + 1
            sizes.setdefault(blob, size)
            if refcount[blob] == 1:
                own += size
        exclusive[revision] = own
    freed = [blob for blob, count in deleted_refs.items() if count == refcount[blob]]
    total = sum(sizes[blob] for blob in freed)
    return Reclaim(
        total=total,
        shared=total - sum(exclusive.values()),
        freed_blobs=len(freed),
        exclusive=exclusive,
        unknown_manifests=unknown,
    )

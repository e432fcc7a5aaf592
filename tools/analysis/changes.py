"""What is new in a registry since a moment, and the per-image helpers the digest's checks share.

"New" is by the `first_seen` clock (DESIGN.md "Clocks"): the first crawl that saw the digest, so pushes
between two crawls show up at the second. Stale images, sprawl and dangling digests are in
tools/analysis/findings.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from tools.analysis.clocks import ClockName, as_utc
from tools.analysis.graph import RepositoryGraph, build_graph, repository_digest_sets
from tools.analysis.reclaim import manifest_references
from tools.inventory.models import Digest, Manifest, RegistryInventory


@dataclass(frozen=True, slots=True)
class ImageChange:
    """One image (a repository's digest with its tags) and the time that put it in a list."""

    registry: str
    repository: str
    digest: Digest
    tags: tuple[str, ...]
    bytes: int  # its own blobs, each once (shared layers included)
    when: datetime
    clock: ClockName


def image_bytes(manifest: Manifest, manifests: Mapping[Digest, Manifest]) -> int:
    """Bytes of every blob an image (or an index with its children) references, each once."""
    sizes = manifest_references(manifest)
    for child in manifest.children:
        known = manifests.get(child.digest)
        if known is not None:
            sizes.update(manifest_references(known))
    return sum(sizes.values())


def tagged_units(inventory: RegistryInventory) -> Iterable[tuple[RepositoryGraph, Digest]]:
    """Every (repository graph, digest) that carries an ordinary tag: the images people name."""
    registry_digests = {d for digests in inventory.repository_digests.values() for d in digests}
    for repository, digests in sorted(repository_digest_sets(inventory, inventory.manifests).items()):
        graph = build_graph(
            repository,
            inventory.tags.get(repository, {}),
            digests,
            inventory.manifests,
            registry_digests=registry_digests,
        )
        for digest in sorted(graph.tags):
            yield graph, digest


def new_images(
    inventory: RegistryInventory, first_seen: Mapping[Digest, datetime], *, since: datetime
) -> list[ImageChange]:
    """Tagged images first seen after `since`, newest first."""
    out = []
    for graph, digest in tagged_units(inventory):
        seen = first_seen.get(digest)
        manifest = inventory.manifests.get(digest)
        if seen is None or manifest is None or as_utc(seen) <= as_utc(since):
            continue
        out.append(
            ImageChange(
                inventory.source.name,
                graph.repository,
                digest,
                tuple(graph.tags[digest]),
                image_bytes(manifest, inventory.manifests),
                as_utc(seen),
                "first_seen",
            )
        )
    out.sort(key=lambda c: (-c.when.timestamp(), c.repository, c.digest))
    return out

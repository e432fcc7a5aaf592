"""One registry's inventory with reverse indexes: digest -> tags, repositories, usage, sizes, layers.

Built once per snapshot and shared by the toolbox and the vulnerability triage, so a question costs one
pass over the inventory however many tools it calls; 20,000 tags take tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tools.analysis.usage import resolve_usage
from tools.inventory.models import Deployment, Digest, Manifest, RegistryInventory


@dataclass(slots=True)
class RegistryView:
    """One registry's inventory with reverse indexes."""

    inventory: RegistryInventory
    tags: dict[tuple[str, Digest], list[str]] = field(default_factory=dict)  # (repo, digest) -> tags
    repositories_of: dict[Digest, set[str]] = field(default_factory=dict)
    usage: dict[Digest, list[Deployment]] = field(default_factory=dict)
    _sizes: dict[Digest, int] = field(default_factory=dict)
    _layer_users: dict[Digest, int] | None = None
    _by_first_layer: dict[Digest, list[Digest]] | None = None

    @property
    def name(self) -> str:
        """The registry's name."""
        return self.inventory.source.name

    def manifest(self, digest: Digest) -> Manifest | None:
        """The manifest of a digest, if crawled."""
        return self.inventory.manifests.get(digest)

    def size(self, digest: Digest) -> int:
        """Compressed bytes of config and layers (an index: its children's, each blob counted once)."""
        if digest not in self._sizes:
            self._sizes[digest] = sum(image_blobs(digest, self.inventory.manifests).values())
        return self._sizes[digest]

    def layer_users(self) -> dict[Digest, int]:
        """Per layer blob, how many image manifests of the registry reference it."""
        if self._layer_users is None:
            users: dict[Digest, int] = {}
            for manifest in self.inventory.manifests.values():
                for layer in {d.digest for d in manifest.layers}:
                    users[layer] = users.get(layer, 0) + 1
            self._layer_users = users
        return self._layer_users

    def by_first_layer(self) -> dict[Digest, list[Digest]]:
        """Image manifests grouped by their first layer (candidates for base-image matching)."""
        if self._by_first_layer is None:
            groups: dict[Digest, list[Digest]] = {}
            for manifest in self.inventory.manifests.values():
                if manifest.layers:
                    groups.setdefault(manifest.layers[0].digest, []).append(manifest.digest)
            self._by_first_layer = groups
        return self._by_first_layer

    def references(self, digest: Digest) -> list[str]:
        """`repository:tag` names pointing at a digest, sorted."""
        return sorted(
            f"{repo}:{tag}"
            for repo in self.repositories_of.get(digest, ())
            for tag in self.tags[(repo, digest)]
        )


def image_blobs(digest: Digest, manifests: Mapping[Digest, Manifest]) -> dict[Digest, int]:
    """Config and layer blobs (digest -> size) of an image, or of every child of an index."""
    manifest = manifests.get(digest)
    if manifest is None:
        return {}
    blobs: dict[Digest, int] = {}
    if manifest.config is not None:
        blobs[manifest.config.digest] = manifest.config.size
    for layer in manifest.layers:
        blobs[layer.digest] = layer.size
    for child in manifest.children:
        if child.digest != digest:
            blobs.update(image_blobs(child.digest, manifests))
    return blobs


def build_view(inventory: RegistryInventory, deployments: list[Deployment]) -> RegistryView:
    """Index one registry."""
    view = RegistryView(inventory=inventory)
    for repository, tags in inventory.tags.items():
        for tag, digest in tags.items():
            view.tags.setdefault((repository, digest), []).append(tag)
            view.repositories_of.setdefault(digest, set()).add(repository)
    for tag_list in view.tags.values():
        tag_list.sort()
    view.usage = resolve_usage(inventory, deployments)
    return view

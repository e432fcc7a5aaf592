"""Per-snapshot lookups the tools share: digest -> tags, usage, sizes, and resolving what a user typed.

Built once per snapshot (ToolContext.cached) so a question costs one pass over the inventory however
many tools it calls; 20,000 tags take tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tools.analysis.history import RegistryHistory
from tools.analysis.usage import resolve_usage
from tools.inventory.models import Deployment, Digest, InventorySnapshot, Manifest, RegistryInventory
from tools.registry.reference import DOCKER_HUB, ReferenceError, is_sha256_digest, parse_reference
from tools.toolbox.context import Call, ToolFailure


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


@dataclass(slots=True)
class Catalog:
    """Every registry of one snapshot, indexed."""

    snapshot: InventorySnapshot
    views: list[RegistryView]

    def registry(self, name: str | None) -> list[RegistryView]:
        """Views matching a registry name, URL or host (all when name is None); ToolFailure if none."""
        if not name:
            return self.views
        wanted = name.strip().rstrip("/").lower()
        found = [
            v
            for v in self.views
            if wanted
            in {
                v.name.lower(),
                v.inventory.source.url.lower(),
                v.inventory.source.image_host.lower(),
            }
        ]
        if not found:
            names = ", ".join(v.name for v in self.views) or "none"
            raise ToolFailure(f"registry {name!r} not found", hint=f"known registries: {names}")
        return found


def catalog_of(call: Call) -> Catalog:
    """The catalog of the latest snapshot (built once per snapshot)."""
    snapshot = call.require_snapshot()

    def build() -> Catalog:
        deployments = list(snapshot.deployments)
        return Catalog(snapshot, [build_view(inv, deployments) for inv in snapshot.registries])

    catalog: Catalog = call.context.cached(f"catalog:{snapshot.taken_at.isoformat()}:{id(snapshot)}", build)
    return catalog


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """A user's image reference resolved in one registry."""

    view: RegistryView
    repository: str
    digest: Digest
    tag: str | None


def resolve_image(catalog: Catalog, text: str, *, registry: str | None = None) -> ResolvedImage:
    """Find `repo:tag`, `repo@digest` or `host/repo:tag` in the snapshot; ToolFailure says what to try."""
    try:
        ref = parse_reference(text, default_tag=None)
    except ReferenceError as exc:
        raise ToolFailure(str(exc), hint="use repository:tag or repository@sha256:<digest>") from None
    views = catalog.registry(registry)
    if ref.registry != DOCKER_HUB:
        views = [v for v in views if v.inventory.source.image_host.lower() == ref.registry.lower()] or views
    repository = ref.repository
    candidates = [
        v for v in views if repository in v.inventory.tags or _has_digest(v, repository, ref.digest)
    ]
    if not candidates and repository.startswith("library/"):
        repository = repository.removeprefix("library/")
        candidates = [v for v in views if repository in v.inventory.tags]
    if not candidates:
        where = f"registry {registry}" if registry else "any registry"
        raise ToolFailure(
            f"repository {repository!r} not found in {where}",
            hint="call search_images with a repository glob to find the right name",
        )
    view = candidates[0]
    tags = view.inventory.tags.get(repository, {})
    if ref.digest:
        if not _has_digest(view, repository, ref.digest):
            raise ToolFailure(f"digest {ref.digest} not found in {repository}", hint="call search_images")
        return ResolvedImage(view, repository, ref.digest, ref.tag)
    tag = ref.tag or ("latest" if "latest" in tags else None)
    if tag is None or tag not in tags:
        sample = ", ".join(sorted(tags)[:10])
        what = f"tag {tag!r}" if tag else "a tag"
        hint = f"some of its {len(tags)} tags: {sample}; or search_images with repository={repository!r}"
        raise ToolFailure(f"{repository} has no {what}", hint=hint)
    return ResolvedImage(view, repository, tags[tag], tag)


def _has_digest(view: RegistryView, repository: str, digest: str | None) -> bool:
    if digest is None or not is_sha256_digest(digest):
        return False
    return (
        digest in view.inventory.repository_digests.get(repository, ()) or (repository, digest) in view.tags
    )


def history_of(call: Call) -> Mapping[str, RegistryHistory]:
    """Per registry name: first sightings and dangling digests from earlier snapshots (built once)."""
    snapshot = call.require_snapshot()
    key = f"history:{snapshot.taken_at.isoformat()}:{id(snapshot)}"
    histories: Mapping[str, RegistryHistory] = call.context.cached(
        key, lambda: call.context.history(snapshot)
    )
    return histories

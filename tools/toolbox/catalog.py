"""Per-snapshot lookups the tools share: digest -> tags, usage, sizes, and resolving what a user typed.

Built once per snapshot (ToolContext.cached) so a question costs one pass over the inventory however
many tools it calls; 20,000 tags take tens of milliseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from tools.analysis.history import RegistryHistory
from tools.analysis.view import RegistryView, build_view
from tools.errors import ImageReferenceError
from tools.inventory.models import Digest, InventorySnapshot
from tools.registry.reference import DOCKER_HUB, is_sha256_digest, parse_reference
from tools.toolbox.context import Call, ToolFailure


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
            raise ToolFailure(
                f"registry {name!r} not found (known registries: {names})",
                hint=f"a registry is where images are stored, not part of their names: if {name!r} starts "
                f"a repository name, call again with registry=null and repository='{name.strip('/')}/*'",
            )
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
    except ImageReferenceError as exc:
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
            f"repository {repository!r} not found in {where}", hint=similar_repositories(views, repository)
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


def similar_repositories(views: list[RegistryView], repository: str) -> str:
    """What to call next for a repository name that does not exist: close names first, if any."""
    names = sorted({name for view in views for name in view.inventory.tags})
    # "batch" for team-x/batch: a name without its namespace, then names that merely look alike
    suffixed = [name for name in names if name.endswith("/" + repository)]
    close = list(dict.fromkeys([*suffixed, *difflib.get_close_matches(repository, names, n=3, cutoff=0.6)]))[
        :3
    ]
    namespace = repository.split("/", 1)[0]
    search = f"call search_images with repository='{namespace}/*' to list the names"
    if not close:
        return search
    return f"similar repositories: {', '.join(close)}; retry with one of them, or {search}"


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

"""Layer analysis across a registry: largest layers, layers shared across repositories, identical content
stored twice, base-image detection and base consolidation suggestions.

Sizes are compressed descriptor sizes (what the registry stores). Base detection tries the OCI
annotations, then the config labels (`org.opencontainers.image.base.name|digest`), then the longest
proper layer prefix that another image in the inventory has exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple

from pydantic import BaseModel

from tools.analysis.bulk import bulk
from tools.inventory.models import Descriptor, Digest, Manifest, RegistryInventory

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


class ImageRef(NamedTuple):
    """One image manifest as it appears in one repository, with the tags reaching it.

    A named tuple: built once per image per analysis, and a frozen dataclass's __init__ cost 3x as much.
    """

    repository: str
    manifest: Manifest
    tags: tuple[str, ...]  # its own tags, or its index's tags for an index child


def iter_images(inventory: RegistryInventory) -> Iterator[ImageRef]:
    """Every (repository, image manifest) pair: tagged images and children of tagged indexes."""
    manifests = inventory.manifests
    for repository in sorted(inventory.tags):
        by_digest: dict[Digest, list[str]] = {}
        for tag, digest in inventory.tags[repository].items():
            by_digest.setdefault(digest, []).append(tag)
        seen: set[Digest] = set()
        for digest in sorted(by_digest):
            manifest = manifests.get(digest)
            if manifest is None:
                continue
            tags = tuple(sorted(by_digest[digest]))
            for image in _images_of(manifest, manifests) if manifest.children else (manifest,):
                if image.digest not in seen and image.layers and image.subject is None:
                    seen.add(image.digest)
                    yield ImageRef(repository, image, tags)


def _images_of(manifest: Manifest, manifests: dict[Digest, Manifest]) -> list[Manifest]:
    if not manifest.children:
        return [manifest]
    return [m for c in manifest.children if (m := manifests.get(c.digest)) is not None and not m.children]


class LayerUse(BaseModel):
    """A layer blob and who uses it."""

    digest: str
    size: int
    images: int
    repositories: list[str]


@bulk
def largest_layers(inventory: RegistryInventory, *, limit: int = 20) -> list[LayerUse]:
    """The largest distinct layer blobs with the images and repositories using them."""
    sizes: dict[Digest, int] = {}
    for ref in iter_images(inventory):
        for layer in ref.manifest.layers:
            sizes[layer.digest] = layer.size
    top = sorted(sizes, key=lambda d: (-sizes[d], d))[:limit]
    wanted = set(top)
    images: dict[Digest, set[Digest]] = {d: set() for d in top}
    repos: dict[Digest, set[str]] = {d: set() for d in top}
    for ref in iter_images(inventory):  # again, for the few layers shown: no set per layer of the registry
        for layer in ref.manifest.layers:
            if layer.digest in wanted:
                images[layer.digest].add(ref.manifest.digest)
                repos[layer.digest].add(ref.repository)
    return [
        LayerUse(digest=d, size=sizes[d], images=len(images[d]), repositories=sorted(repos[d])) for d in top
    ]


class SharedLayer(BaseModel):
    """A layer stored once but used by several repositories."""

    digest: str
    size: int
    repositories: int
    images: int
    saved_bytes: int  # what storing it once per repository would cost on top


class SharedLayers(BaseModel):
    """Layers shared across repositories, most savings first."""

    layers: list[SharedLayer]
    saved_bytes: int


@bulk
def shared_layers(inventory: RegistryInventory, *, min_repositories: int = 2) -> SharedLayers:
    """Layers used from at least min_repositories repositories, and the bytes deduplication saves."""
    # Counts, not a set of repositories and a set of images per layer: with a million tags those sets
    # were over a gigabyte. iter_images yields each repository's images together, so each repository's
    # distinct layers are gathered in a small map first and the registry-wide tables (millions of
    # layers, a cache miss per access) are touched once per layer and repository, not once per image.
    # Those tables are sets where they can be: one table access where a dict has an index and an entry
    # (#17). Nearly every layer is in one repository; only the others get a count.
    once: set[Digest] = set()  # layers seen in one repository so far
    repos: dict[Digest, int] = {}  # layers of several repositories -> how many
    sizes: dict[Digest, int] = {}
    images = _Distinct()
    here: dict[Digest, int] = {}  # this repository's layers -> size
    repository: str | None = None
    sized_from = min(min_repositories, 2)
    for ref in iter_images(inventory):
        if ref.repository != repository:
            _count_repository(here, once, repos, sizes, sized_from)
            repository = ref.repository
        images.add(ref.manifest)
        for layer in ref.manifest.layers:
            here[layer.digest] = layer.size
    _count_repository(here, once, repos, sizes, sized_from)
    shared = {d for d, count in repos.items() if count >= min_repositories}
    if min_repositories <= 1:
        shared |= once
    users = _images_using(images.manifests, shared)
    rows = []
    for digest, size in sizes.items():
        if digest in shared:
            count = repos.get(digest, 1)
            rows.append(
                SharedLayer(
                    digest=digest,
                    size=size,
                    repositories=count,
                    images=users[digest],
                    saved_bytes=size * (count - 1),
                )
            )
    rows.sort(key=lambda r: (-r.saved_bytes, r.digest))
    return SharedLayers(layers=rows, saved_bytes=sum(r.saved_bytes for r in rows))


def _count_repository(
    here: dict[Digest, int],
    once: set[Digest],
    repos: dict[Digest, int],
    sizes: dict[Digest, int],
    sized_from: int,
) -> None:
    """Add one repository's distinct layers to the registry-wide counts, and empty `here`.

    A layer's size is the one of its last use, in repositories' order as in images' order (last wins).
    It is kept only from the `sized_from`-th repository on: a layer of one repository is almost every
    layer and is not a row, and by the time a layer counts its size comes from a later repository."""
    for digest, size in here.items():
        count = repos.get(digest)
        if count is not None:
            count += 1
            repos[digest] = count
        elif digest in once:
            once.discard(digest)
            count = repos[digest] = 2
        else:
            once.add(digest)
            count = 1
        if count >= sized_from:
            sizes[digest] = size
    here.clear()


class _Distinct:
    """Image manifests, each once (one may be in several repositories): a set of digests and a list,
    where a dict from digest to manifest would be two table accesses per image (#17)."""

    __slots__ = ("digests", "manifests")

    def __init__(self) -> None:
        self.digests: set[Digest] = set()
        self.manifests: list[Manifest] = []

    def add(self, manifest: Manifest) -> None:
        """Keep the manifest unless one with its digest is kept already."""
        if manifest.digest not in self.digests:
            self.digests.add(manifest.digest)
            self.manifests.append(manifest)


class StoredBlob(BaseModel):
    """A compressed blob holding some content."""

    digest: str
    size: int
    images: int


class DuplicateContent(BaseModel):
    """The same uncompressed content (diff_id) stored as several compressed blobs."""

    diff_id: str
    blobs: list[StoredBlob]
    wasted_bytes: int  # every copy but the smallest


@bulk
def duplicate_content(inventory: RegistryInventory) -> list[DuplicateContent]:
    """Layers with one diff_id but different compressed digests (e.g. rebuilt with another gzip)."""
    first: dict[Digest, Descriptor] = {}  # diff_id -> its first blob (almost always its only one)
    blobs: dict[Digest, dict[Digest, int]] = {}  # diff_id -> blob -> size, for diff_ids with several blobs
    images = _Distinct()
    for ref in iter_images(inventory):
        manifest = ref.manifest
        if len(manifest.diff_ids) != len(manifest.layers):
            continue  # cannot pair compressed and uncompressed digests
        images.add(manifest)
        for layer, diff_id in zip(manifest.layers, manifest.diff_ids, strict=True):
            seen = first.setdefault(diff_id, layer)
            if seen.digest != layer.digest or diff_id in blobs:
                blobs.setdefault(diff_id, {seen.digest: seen.size})[layer.digest] = layer.size
            else:
                first[diff_id] = layer  # the same blob again: its latest size counts, as for the others
    users = _images_using(images.manifests, {d for stored in blobs.values() for d in stored})
    out = []
    for diff_id, stored in blobs.items():
        rows = sorted(
            (StoredBlob(digest=d, size=s, images=users[d]) for d, s in stored.items()),
            key=lambda b: b.size,
        )
        out.append(DuplicateContent(diff_id=diff_id, blobs=rows, wasted_bytes=sum(b.size for b in rows[1:])))
    return sorted(out, key=lambda d: (-d.wasted_bytes, d.diff_id))


def _images_using(images: Iterable[Manifest], layers: set[Digest]) -> dict[Digest, int]:
    """How many of these images use each of these layers (an image listing a layer twice counts once).

    The images come in the order they were found, not as a set of digests each looked up again: in
    hash order every lookup was a cache miss, a quarter of shared_layers at a million tags (#17)."""
    counts = dict.fromkeys(layers, 0)
    for image in images:
        counted: list[Digest] = []
        for layer in image.layers:
            if layer.digest in counts and layer.digest not in counted:
                counts[layer.digest] += 1
                counted.append(layer.digest)
    return counts


Evidence = Literal["annotation", "label", "layers"]


class BaseDetection(BaseModel):
    """What one image is built on, and how we know."""

    repository: str
    digest: str
    tags: list[str]
    evidence: Evidence
    base_name: str | None  # as annotated/labelled, or repository:tag of the matching image here
    base_digest: str | None
    base_repository: str | None = None  # set when the base is an image in this registry
    shared_layers: int = 0
    shared_bytes: int = 0


@bulk
def detect_base_images(inventory: RegistryInventory) -> list[BaseDetection]:
    """Base image of every image: annotations, then labels, then the longest layer-prefix match."""
    refs = list(iter_images(inventory))
    hashes = [_prefix_hashes(ref.manifest) for ref in refs]
    by_layers: dict[int, list[ImageRef]] = {}
    for ref, running in zip(refs, hashes, strict=True):
        by_layers.setdefault(running[-1], []).append(ref)
    out = []
    for ref, running in zip(refs, hashes, strict=True):
        found = _declared_base(ref) or _prefix_base(ref, by_layers, running)
        if found is not None:
            out.append(found)
    return out


def _declared_base(ref: ImageRef) -> BaseDetection | None:
    manifest = ref.manifest
    for evidence, source in (("annotation", manifest.annotations), ("label", manifest.labels)):
        name, digest = source.get(BASE_NAME), source.get(BASE_DIGEST)
        if name or digest:
            return BaseDetection(
                repository=ref.repository,
                digest=manifest.digest,
                tags=list(ref.tags),
                evidence=evidence,  # type: ignore[arg-type]
                base_name=name,
                base_digest=digest,
            )
    return None


def _prefix_hashes(manifest: Manifest) -> list[int]:
    """Running hashes of the layer list: element k stands for layers[:k+1]; O(1) per step."""
    out, running = [], 0
    for layer in manifest.layers:
        running = hash((running, layer.digest))
        out.append(running)
    return out or [0]


def _prefix_base(
    ref: ImageRef, by_layers: dict[int, list[ImageRef]], hashes: list[int]
) -> BaseDetection | None:
    layers = ref.manifest.layers
    for k in range(len(layers) - 1, 0, -1):
        bucket = by_layers.get(hashes[k - 1])
        if not bucket:
            continue  # no image has exactly this prefix: most prefixes, so no list of digests for them
        wanted = [layer.digest for layer in layers[:k]]
        candidates = [  # compare digests, not descriptors: docker and OCI media types name the same blob
            c for c in bucket if [x.digest for x in c.manifest.layers] == wanted
        ]
        if candidates:
            base = min(candidates, key=lambda c: (not c.tags, c.repository, c.manifest.digest))
            tag = base.tags[0] if base.tags else None
            return BaseDetection(
                repository=ref.repository,
                digest=ref.manifest.digest,
                tags=list(ref.tags),
                evidence="layers",
                base_name=f"{base.repository}:{tag}" if tag else f"{base.repository}@{base.manifest.digest}",
                base_digest=base.manifest.digest,
                base_repository=base.repository,
                shared_layers=k,
                shared_bytes=sum(layer.size for layer in layers[:k]),
            )
    return None


_VERSIONED_TAG = re.compile(r"(?P<prefix>.*?)(?P<sep>[-_.]?)v?(?P<version>\d+(?:\.\d+)*)(?P<suffix>.*)\Z")


class BaseVersion(BaseModel):
    """One version of a base image family and how many images use it."""

    name: str
    version: str
    images: int


class Consolidation(BaseModel):
    """Images spread over several versions of one base; moving them to one saves layers and patching."""

    family: str
    images: int
    versions: list[BaseVersion]  # newest first
    suggestion: str


def family_of(base_name: str) -> tuple[str, str]:
    """(family, version) of a base reference: `alpine:3.19.1` -> (`alpine:*`, `3.19.1`)."""
    name, _, digest = base_name.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon <= slash:
        return name, digest[:19] or "untagged"
    repository, tag = name[:colon], name[colon + 1 :]
    match = _VERSIONED_TAG.match(tag)
    if match is None:
        return f"{repository}:{tag}", tag
    family_tag = f"{match['prefix']}{match['sep']}*{match['suffix']}"
    return f"{repository}:{family_tag}", match["version"]


def suggest_consolidation(
    detections: Iterable[BaseDetection], *, min_versions: int = 2
) -> list[Consolidation]:
    """Base families used on at least min_versions versions, biggest spread first."""
    families: dict[str, dict[str, tuple[str, set[str]]]] = {}
    for detection in detections:
        if not detection.base_name:
            continue
        family, version = family_of(detection.base_name)
        _, users = families.setdefault(family, {}).setdefault(version, (detection.base_name, set()))
        users.add(detection.digest)
    out = []
    for family, versions in families.items():
        if len(versions) < min_versions:
            continue
        rows = [BaseVersion(name=name, version=v, images=len(users)) for v, (name, users) in versions.items()]
        rows.sort(key=lambda r: _version_key(r.version), reverse=True)
        images = sum(r.images for r in rows)
        level = _spread(list(versions))
        out.append(
            Consolidation(
                family=family,
                images=images,
                versions=rows,
                suggestion=f"{images} images on {len(rows)} different {level}versions of {family}; "
                f"rebuilding them on {rows[0].name} shares its layers and patches them once",
            )
        )
    return sorted(out, key=lambda c: (-len(c.versions), -c.images, c.family))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _spread(versions: list[str]) -> str:
    keys = [_version_key(v) for v in versions]
    if not all(keys):
        return ""
    if len({k[:2] for k in keys}) == 1 and all(len(k) >= 3 for k in keys):
        return "patch "
    if len({k[:1] for k in keys}) == 1 and all(len(k) >= 2 for k in keys):
        return "minor "
    return ""

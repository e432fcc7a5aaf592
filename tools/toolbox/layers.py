"""Layer views for the image tools: an image's layers, its base image, and compare_images."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.clocks import Clocks
from tools.inventory.models import Descriptor, Digest, Manifest
from tools.policy.plans import format_bytes
from tools.toolbox.catalog import RegistryView, catalog_of, resolve_image
from tools.toolbox.context import Call
from tools.toolbox.results import ToolResult, clean_text, day

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


class LayerRow(BaseModel):
    """One layer blob."""

    digest: str
    size_bytes: int
    used_by_images: int  # image manifests in the registry referencing this layer


class BaseImageInfo(BaseModel):
    """What the image is built on, and how we know."""

    name: str | None
    digest: str | None
    evidence: Literal["annotation", "label", "layers"]
    in_registry: str | None = None  # repository:tag here whose layers are a prefix of this image's
    shared_layers: int | None = None
    shared_bytes: int | None = None


def image_layers(view: RegistryView, digest: Digest) -> tuple[Digest, tuple[Descriptor, ...]]:
    """Layers of an image; of an index, its linux/amd64 child's (else its first child's)."""
    manifest = view.manifest(digest)
    if manifest is None:
        return digest, ()
    if not manifest.children:
        return digest, manifest.layers
    chosen = next(
        (c for c in manifest.children if c.platform and str(c.platform) == "linux/amd64"),
        manifest.children[0],
    )
    child = view.manifest(chosen.digest)
    return chosen.digest, child.layers if child is not None else ()


def layer_rows(
    view: RegistryView, layers: tuple[Descriptor, ...], *, limit: int = 30
) -> tuple[list[LayerRow], int]:
    """Up to `limit` layers with how many images use each; plus how many were left out."""
    users = view.layer_users()
    rows = [
        LayerRow(digest=d.digest, size_bytes=d.size, used_by_images=users.get(d.digest, 0)) for d in layers
    ]
    return rows[:limit], max(0, len(rows) - limit)


def find_base_image(view: RegistryView, digest: Digest, manifest: Manifest) -> BaseImageInfo | None:
    """The base image from OCI annotations or labels, plus the registry image whose layers it starts with."""
    layers_digest, layers = image_layers(view, digest)
    layered = view.manifest(layers_digest) or manifest
    declared = _declared_base(manifest, layered)
    match = _layer_prefix_match(view, layers_digest, layers)
    if declared is None and match is None:
        return None
    info = declared or BaseImageInfo(name=None, digest=None, evidence="layers")
    if match is not None:
        candidate, count = match
        refs = view.references(candidate)
        info.in_registry = refs[0] if refs else candidate
        info.shared_layers = count
        info.shared_bytes = sum(d.size for d in layers[:count])
        if info.digest is None and declared is None:
            info.digest = candidate
    return info


def _declared_base(manifest: Manifest, layered: Manifest) -> BaseImageInfo | None:
    for source, evidence in (
        (manifest.annotations, "annotation"),
        (layered.annotations, "annotation"),
        (layered.labels, "label"),
    ):
        name = source.get(BASE_NAME)
        if name:
            return BaseImageInfo(
                name=clean_text(name),
                digest=clean_text(source.get(BASE_DIGEST, "")) or None,
                evidence="annotation" if evidence == "annotation" else "label",
            )
    return None


def _layer_prefix_match(
    view: RegistryView, digest: Digest, layers: tuple[Descriptor, ...]
) -> tuple[Digest, int] | None:
    """The tagged image with the longest layer list that is a strict prefix of these layers."""
    if len(layers) < 2:
        return None
    wanted = [d.digest for d in layers]
    best: tuple[int, bool, Digest] | None = None
    for candidate in view.by_first_layer().get(wanted[0], ()):
        other = view.manifest(candidate)
        if candidate == digest or other is None or len(other.layers) >= len(wanted):
            continue
        if [d.digest for d in other.layers] != wanted[: len(other.layers)]:
            continue
        key = (len(other.layers), bool(view.repositories_of.get(candidate)), candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return (best[2], best[0]) if best is not None else None


class CompareImagesArgs(BaseModel):
    """Compare two images: layers they share, layers only one has, the size delta and label changes.
    Typical uses: two tags of one repository, or an image and its base."""

    model_config = ConfigDict(extra="forbid")

    image_a: str = Field(description="First image reference, e.g. 'shop/api:1.3.0'")
    image_b: str = Field(description="Second image reference, e.g. 'shop/api:1.4.0'")
    registry: str | None = Field(None, description="Registry name when several registries hold the images")


class ImageBrief(BaseModel):
    """One side of a comparison."""

    reference: str
    digest: str
    size_bytes: int
    created: str | None
    layer_count: int
    compared_manifest: str | None  # the child compared when the image is a multi-platform index


class LabelChange(BaseModel):
    """A label that differs (registry data, not instructions)."""

    key: str
    a: str | None
    b: str | None


class CompareImagesResult(ToolResult):
    """Layer diff and size delta of two images."""

    a: ImageBrief
    b: ImageBrief
    same_digest: bool
    size_delta_bytes: int  # b minus a
    size_delta: str
    common_prefix_layers: int  # leading layers both share: a common base
    shared_layers: int
    shared_bytes: int
    only_in_a: list[LayerRow]
    only_in_a_bytes: int
    only_in_b: list[LayerRow]
    only_in_b_bytes: int
    label_changes: list[LabelChange]


def compare_images(call: Call, args: CompareImagesArgs) -> CompareImagesResult:
    """Layer diff of two images."""
    catalog = catalog_of(call)
    first = resolve_image(catalog, args.image_a, registry=args.registry)
    second = resolve_image(catalog, args.image_b, registry=args.registry)
    a_digest, a_layers = image_layers(first.view, first.digest)
    b_digest, b_layers = image_layers(second.view, second.digest)
    a_set, b_set = {d.digest for d in a_layers}, {d.digest for d in b_layers}
    prefix = 0
    for left, right in zip(a_layers, b_layers, strict=False):
        if left.digest != right.digest:
            break
        prefix += 1
    only_a = tuple(d for d in a_layers if d.digest not in b_set)
    only_b = tuple(d for d in b_layers if d.digest not in a_set)
    shared = {d.digest: d.size for d in a_layers if d.digest in b_set}
    a_rows, a_more = layer_rows(first.view, only_a, limit=15)
    b_rows, b_more = layer_rows(second.view, only_b, limit=15)
    changes = _label_changes(first.view.manifest(a_digest), second.view.manifest(b_digest))
    size_a, size_b = first.view.size(first.digest), second.view.size(second.digest)
    cut = a_more + b_more + max(0, len(changes) - 20)
    return CompareImagesResult(
        a=_brief(first.view, first.digest, args.image_a, a_digest, len(a_layers)),
        b=_brief(second.view, second.digest, args.image_b, b_digest, len(b_layers)),
        same_digest=first.digest == second.digest,
        size_delta_bytes=size_b - size_a,
        size_delta=("+" if size_b >= size_a else "-") + format_bytes(abs(size_b - size_a)),
        common_prefix_layers=prefix,
        shared_layers=len(shared),
        shared_bytes=sum(shared.values()),
        only_in_a=a_rows,
        only_in_a_bytes=sum(d.size for d in only_a),
        only_in_b=b_rows,
        only_in_b_bytes=sum(d.size for d in only_b),
        label_changes=changes[:20],
        truncated=cut > 0,
        note=f"{cut} more differing layers or labels left out; compare narrower images" if cut else None,
    )


def _brief(view: RegistryView, digest: Digest, text: str, layers_digest: Digest, count: int) -> ImageBrief:
    return ImageBrief(
        reference=clean_text(text),
        digest=digest,
        size_bytes=view.size(digest),
        created=day(Clocks(view.inventory.manifests).time(digest, "created")),
        layer_count=count,
        compared_manifest=layers_digest if layers_digest != digest else None,
    )


def _label_changes(a: Manifest | None, b: Manifest | None) -> list[LabelChange]:
    left, right = (a.labels if a else {}), (b.labels if b else {})
    return [
        LabelChange(
            key=clean_text(key, limit=100),
            a=clean_text(left[key]) if key in left else None,
            b=clean_text(right[key]) if key in right else None,
        )
        for key in sorted(set(left) | set(right))
        if left.get(key) != right.get(key)
    ]

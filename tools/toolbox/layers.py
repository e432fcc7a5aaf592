"""Layer views for the image tools: an image's layers, its base image, and compare_images."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.base_image import image_layers
from tools.analysis.clocks import Clocks
from tools.analysis.text import clean_text
from tools.analysis.view import RegistryView
from tools.inventory.models import Descriptor, Digest, Manifest
from tools.toolbox.catalog import catalog_of, resolve_image
from tools.toolbox.context import Call
from tools.toolbox.results import ToolResult, day
from tools.units import format_bytes


class LayerRow(BaseModel):
    """One layer blob."""

    digest: str
    size_bytes: int
    used_by_images: int  # image manifests in the registry referencing this layer


def layer_rows(
    view: RegistryView, layers: tuple[Descriptor, ...], *, limit: int = 30
) -> tuple[list[LayerRow], int]:
    """Up to `limit` layers with how many images use each; plus how many were left out."""
    users = view.layer_users()
    rows = [
        LayerRow(digest=d.digest, size_bytes=d.size, used_by_images=users.get(d.digest, 0)) for d in layers
    ]
    return rows[:limit], max(0, len(rows) - limit)


class CompareImagesArgs(BaseModel):
    """Compare two images: the size difference, shared layers, layers only one has, label changes."""

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
    delta = size_b - size_a
    return CompareImagesResult(
        headline=(
            f"{clean_text(args.image_b)} is {format_bytes(abs(delta))} ({abs(delta):,} bytes) "
            f"{'larger' if delta >= 0 else 'smaller'} than {clean_text(args.image_a)} "
            f"({format_bytes(size_b)} vs {format_bytes(size_a)}); they share {len(shared)} layer(s)"
        ),
        a=_brief(first.view, first.digest, args.image_a, a_digest, len(a_layers)),
        b=_brief(second.view, second.digest, args.image_b, b_digest, len(b_layers)),
        same_digest=first.digest == second.digest,
        size_delta_bytes=size_b - size_a,
        size_delta=format_bytes(size_b - size_a, signed=True),
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

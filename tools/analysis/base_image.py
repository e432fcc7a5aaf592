"""An image's layers and the base image it is built on: declared (annotation, label) or found by layers.

Domain logic shared by the toolbox (get_image, compare_images) and the vulnerability triage (findings
that come from a base image).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tools.analysis.text import clean_text
from tools.analysis.view import RegistryView
from tools.inventory.models import Descriptor, Digest, Manifest

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


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

"""Which findings come from the base image, and which newer base tag would remove how many of them.

Base detection is the layer analysis' (tools.analysis.layers.detect_base_images, one sweep per registry)
and, for images that declare their base, the image tools' (tools.toolbox.layers.find_base_image), which
also finds the registry image whose layers are a prefix of this one's. A finding comes from the base when
the layer the scanner names is one of those prefix layers. A newer base is a higher version of the same
tag line ("alpine-3.19.0" -> "alpine-3.19.1", "12-slim" -> "13-slim") in the inventory, or in the
configured approved-bases list, which wins when it names that base at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel

from tools.analysis.base_image import BaseImageInfo, find_base_image
from tools.analysis.layers import detect_base_images, iter_images
from tools.analysis.usage import ImageReference, parse_reference
from tools.analysis.view import RegistryView, build_view
from tools.inventory.models import Digest, InventorySnapshot
from tools.vulns.images import ImageIndex
from tools.vulns.reports import Finding
from tools.vulns.triage import ImageFindings, Triage

_VERSION = re.compile(r"^(.*?)(\d+(?:\.\d+)*)(.*)$")

# a reference -> findings of the newest report for it, when any report names it
ReportLookup = Callable[[ImageReference], list[Finding] | None]


class BaseRef(BaseModel):
    """An image's base, as detected."""

    name: str  # the declared base name (annotation/label), else the registry image it starts with
    reference: str  # full reference used for upgrades: declared name, else host/repo:tag in the registry
    in_registry: str = ""  # "repo:tag" of the registry image whose layers this image starts with
    digest: str = ""
    layers: int | None = None  # how many of the image's layers are the base's (None: unknown)


class BaseUpgrade(BaseModel):
    """A newer base for one image, and what it changes when a report for it exists."""

    image: str
    digest: str
    current_base: str
    suggested_base: str | None
    suggested_from: str  # "inventory" | "approved bases" | ""
    base_findings: int  # current findings attributed to the base layers
    removes: int | None  # None: no report for the suggested base
    introduces: int | None
    removed: list[str]  # the most urgent findings it removes: "P1 CVE-… (package)"
    note: str = ""


def detect_bases(snapshot: InventorySnapshot, digests: set[Digest]) -> dict[Digest, BaseRef]:
    """Base images of the given image digests (those with a detectable base).

    The registry-wide pass (tools.analysis.layers) answers layer-prefix bases in one sweep; images that
    declare their base (annotation/label), and untagged ones it does not visit, go through the image
    tools' per-image detection, which adds the layer prefix to a declared name.
    """
    found: dict[Digest, BaseRef] = {}
    for inv in snapshot.registries:
        wanted = sorted((digests & inv.manifests.keys()) - found.keys())
        if not wanted:
            continue
        swept = {d.digest: d for d in detect_base_images(inv) if d.digest in set(wanted)}
        visited = {ref.manifest.digest for ref in iter_images(inv)}
        view: RegistryView | None = None
        for digest in wanted:
            detection = swept.get(digest)
            if detection is None and digest in visited:
                continue  # the sweep looked and found no base
            if detection is not None and detection.evidence == "layers" and detection.base_name:
                found[digest] = BaseRef(
                    name=detection.base_name,
                    reference=f"{inv.source.image_host}/{detection.base_name}",
                    in_registry=detection.base_name,
                    digest=detection.base_digest or "",
                    layers=detection.shared_layers,
                )
                continue
            view = view or build_view(inv, list(snapshot.deployments))
            info = find_base_image(view, digest, inv.manifests[digest])
            if info is not None:
                found[digest] = _from_image_tools(info, image_host=inv.source.image_host)
    return found


def _from_image_tools(info: BaseImageInfo, *, image_host: str) -> BaseRef:
    local = f"{image_host}/{info.in_registry}" if info.in_registry else ""
    return BaseRef(
        name=info.name or info.in_registry or "",
        reference=info.name or local,
        in_registry=info.in_registry or "",
        digest=info.digest or "",
        layers=info.shared_layers,
    )


def base_lookup(bases: dict[Digest, BaseRef]) -> Callable[[Digest], tuple[str, int | None] | None]:
    """The triage's base hook: digest -> (base name, base layer count)."""

    def base_of(digest: Digest) -> tuple[str, int | None] | None:
        ref = bases.get(digest)
        return (ref.name, ref.layers) if ref is not None else None

    return base_of


def suggest_upgrades(
    triage: Triage,
    bases: dict[Digest, BaseRef],
    *,
    index: ImageIndex,
    approved: list[str],
    report_for: ReportLookup,
) -> list[BaseUpgrade]:
    """For each triaged image with a detected base: the newest newer base and the findings it removes."""
    by_digest = {image.digest: image for image in triage.images}
    out = []
    for image in triage.images:
        base = bases.get(image.digest)
        if base is None:
            continue
        suggestion, source = newer_base(base, index=index, approved=approved)
        out.append(_upgrade(image, base, suggestion, source, by_digest, index, report_for))
    return out


def newer_base(base: BaseRef, *, index: ImageIndex, approved: list[str]) -> tuple[str | None, str]:
    """The newest newer tag of the base's line: approved list when it names the base, else inventory."""
    current = parse_reference(base.reference) if base.reference else None
    if current is None or current.tag is None:
        return None, ""
    same = [parse_reference(a) for a in approved]
    same = [a for a in same if (a.host, a.repository) == (current.host, current.repository) and a.tag]
    if same:
        best = _highest(current.tag, [a.tag for a in same if a.tag])
        return (f"{current.host}/{current.repository}:{best}" if best else None), "approved bases"
    for inv in index.registries:
        if current.host != _host_of(inv.source.image_host):
            continue
        best = _highest(current.tag, list(inv.tags.get(current.repository, {})))
        if best:
            return f"{current.host}/{current.repository}:{best}", "inventory"
    return None, ""


def _highest(tag: str, candidates: list[str]) -> str | None:
    mine = _version(tag)
    if mine is None:
        return None
    newer = [(v, c) for c in candidates if (v := _version(c)) and v[0::2] == mine[0::2] and v[1] > mine[1]]
    return max(newer)[1] if newer else None


def _version(tag: str) -> tuple[str, tuple[int, ...], str] | None:
    match = _VERSION.match(tag)
    if match is None:
        return None
    return match[1], tuple(int(part) for part in match[2].split(".")), match[3]


def _upgrade(
    image: ImageFindings,
    base: BaseRef,
    suggestion: str | None,
    source: str,
    by_digest: dict[Digest, ImageFindings],
    index: ImageIndex,
    report_for: ReportLookup,
) -> BaseUpgrade:
    from_base = [f for f in image.findings if f.from_base]
    upgrade = BaseUpgrade(
        image=image.image,
        digest=image.digest,
        current_base=base.name,
        suggested_base=suggestion,
        suggested_from=source,
        base_findings=len(from_base),
        removes=None,
        introduces=None,
        removed=[],
    )
    if base.layers is None or not any(f.from_base is not None for f in image.findings):
        upgrade.note = "the report names no layers for its findings, so base attribution is unknown"
    if suggestion is None:
        upgrade.note = upgrade.note or "no newer tag of this base in the inventory or the approved bases"
        return upgrade
    newer = _findings_of(suggestion, image.digest, by_digest, index, report_for)
    if newer is None:
        upgrade.note = f"no report for {suggestion}: scan it to know what upgrading removes"
        return upgrade
    remaining = {(cve.upper(), package) for cve, package in newer}
    gone = [f for f in from_base if (f.cve.upper(), f.package) not in remaining]
    upgrade.removes = len(gone)
    upgrade.introduces = len(remaining - {(f.cve.upper(), f.package) for f in from_base})
    upgrade.removed = [f"{f.priority} {f.cve} ({f.package})" for f in gone[:5]]
    return upgrade


def _findings_of(
    reference: str,
    image_digest: Digest,
    by_digest: dict[Digest, ImageFindings],
    index: ImageIndex,
    report_for: ReportLookup,
) -> set[tuple[str, str]] | None:
    ref = parse_reference(reference)
    for inv in index.registries:
        digest = inv.tags.get(ref.repository, {}).get(ref.tag or "")
        if digest is None or ref.host != _host_of(inv.source.image_host):
            continue
        for candidate in _same_platform(digest, image_digest, index):
            if candidate in by_digest:
                return {(f.cve, f.package) for f in by_digest[candidate].findings}
    findings = report_for(ref)
    return {(f.cve, f.package) for f in findings} if findings is not None else None


def _same_platform(digest: Digest, image_digest: Digest, index: ImageIndex) -> list[Digest]:
    manifest = index.manifests.get(digest)
    if manifest is None or not manifest.is_index:
        return [digest]
    wanted = index.manifests[image_digest].platform if image_digest in index.manifests else None
    return [c.digest for c in manifest.children if wanted is None or c.platform == wanted]


def _host_of(image_host: str) -> str:
    return parse_reference(f"{image_host}/x").host

"""Push-triggered analysis: compare a pushed image with the repository's previous tag and say what is odd.

Findings with severity "alert" make a push anomalous: much larger than the previous tag, a base image
downgraded or swapped, or no signature where one is required. Layer reuse and size deltas are reported
either way, because they explain the alert (or the absence of one).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tools.errors import ImageReferenceError, RegentError
from tools.events.models import RegistryEvent
from tools.events.rules import PushRules
from tools.events.store import EventStore
from tools.inventory.models import Manifest
from tools.inventory.parse import is_image_config, parse_manifest, with_config
from tools.registry.client import RegistryClient
from tools.registry.reference import parse_reference
from tools.units import format_bytes

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
# cosign's tag convention; distribution 2.8 has no referrers API, so this is how signatures are found.
_SIGNATURE_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")
_VERSION_PART = re.compile(r"\d+")

Severity = Literal["alert", "info"]
FindingRule = Literal["size_growth", "base_downgraded", "base_changed", "unsigned", "layers_replaced"]


class ImageFacts(BaseModel):
    """What analysis needs of one image (a platform's manifest for an index)."""

    repository: str
    tag: str
    digest: str = Field(description="the pushed digest (an index when multi-platform)")
    image_digest: str = Field(description="the image manifest analysed (the index's linux/amd64 child)")
    bytes: int = Field(description="compressed config + layers")
    layers: list[str]
    created: datetime | None = None
    base_name: str = ""
    base_digest: str = ""
    signed: bool | None = Field(default=None, description="None when not checked")


class PushFinding(BaseModel):
    """One thing noticed about a push."""

    rule: FindingRule
    severity: Severity
    message: str


class PushAnalysis(BaseModel):
    """A push compared with the repository's previous tag."""

    event_id: str
    registry: str
    repository: str
    tag: str
    digest: str
    actor: str
    pushed_at: datetime
    current: ImageFacts
    previous: ImageFacts | None
    size_delta_bytes: int | None = None
    size_ratio: float | None = None
    layers_reused: int | None = None
    findings: list[PushFinding] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def anomalous(self) -> bool:
        """True when any finding is an alert."""
        return any(f.severity == "alert" for f in self.findings)


def is_signature_tag(tag: str) -> bool:
    """True for cosign signature, attestation and SBOM tags (`sha256-<hex>.sig`)."""
    return bool(_SIGNATURE_TAG.match(tag))


def wants_analysis(event: RegistryEvent) -> bool:
    """Only tagged manifest pushes are compared (blobs, digests-only pushes and signatures are not)."""
    return (
        event.action == "push"
        and event.kind == "manifest"
        and bool(event.tag)
        and bool(event.digest)
        and not is_signature_tag(event.tag)
    )


def image_facts(
    client: RegistryClient, repository: str, reference: str, *, tag: str = "", check_signature: bool
) -> ImageFacts:
    """Fetch a manifest (and its config) and reduce it to ImageFacts; an index is read via one child."""
    raw = client.get_manifest(repository, reference)
    manifest = parse_manifest(raw.digest, raw.media_type, len(raw.body), raw.json())
    image = manifest
    if manifest.is_index:
        child = _pick_child(manifest)
        child_raw = client.get_manifest(repository, child)
        image = parse_manifest(child_raw.digest, child_raw.media_type, len(child_raw.body), child_raw.json())
    if image.config is not None and is_image_config(image.config.media_type):
        image = with_config(image, client.get_blob_json(repository, image.config.digest))
    signed = None
    if check_signature:
        signature = f"sha256-{manifest.digest.removeprefix('sha256:')}.sig"
        signed = client.head_manifest(repository, signature) is not None
    return ImageFacts(
        repository=repository,
        tag=tag,
        digest=manifest.digest,
        image_digest=image.digest,
        bytes=image.image_bytes,
        layers=[layer.digest for layer in image.layers],
        created=image.created,
        base_name=_annotation(manifest, image, BASE_NAME),
        base_digest=_annotation(manifest, image, BASE_DIGEST),
        signed=signed,
    )


def _pick_child(index: Manifest) -> str:
    for child in index.children:
        if child.platform is not None and (child.platform.os, child.platform.architecture) == (
            "linux",
            "amd64",
        ):
            return child.digest
    if not index.children:
        raise RegentError(f"index {index.digest} has no manifests")
    return index.children[0].digest


def _annotation(manifest: Manifest, image: Manifest, key: str) -> str:
    return manifest.annotations.get(key) or image.annotations.get(key) or image.labels.get(key, "")


def compare_images(current: ImageFacts, previous: ImageFacts | None, rules: PushRules) -> list[PushFinding]:
    """Findings for a pushed image against the previous tag (None: first push seen)."""
    findings: list[PushFinding] = []
    if current.signed is False:
        findings.append(
            PushFinding(
                rule="unsigned", severity="alert", message="no signature, and this repository requires one"
            )
        )
    if previous is None:
        return findings
    findings.extend(_size_findings(current, previous, rules))
    findings.extend(_base_findings(current, previous, rules))
    reused = len(set(current.layers) & set(previous.layers))
    if previous.layers and current.layers and reused == 0 and not current.base_name:
        findings.append(
            PushFinding(
                rule="layers_replaced",
                severity="info",
                message=f"no layer shared with {previous.tag}: the base image probably changed",
            )
        )
    return findings


def _size_findings(current: ImageFacts, previous: ImageFacts, rules: PushRules) -> list[PushFinding]:
    if previous.bytes <= 0:
        return []
    ratio = current.bytes / previous.bytes
    delta = current.bytes - previous.bytes
    if ratio >= rules.size_ratio and delta >= rules.min_size_delta_bytes:
        sizes = f"{format_bytes(previous.bytes)} → {format_bytes(current.bytes)}"
        message = f"{ratio:.1f}x the size of {previous.tag} ({sizes})"
        return [PushFinding(rule="size_growth", severity="alert", message=message)]
    return []


def _base_findings(current: ImageFacts, previous: ImageFacts, rules: PushRules) -> list[PushFinding]:
    if not current.base_name or not previous.base_name or current.base_name == previous.base_name:
        return []
    try:
        new, old = parse_reference(current.base_name), parse_reference(previous.base_name)
    except ImageReferenceError:
        return [PushFinding(rule="base_changed", severity="info", message="base image changed")]
    if new.name != old.name:
        severity: Severity = "alert" if rules.base_changed else "info"
        message = f"base image changed from {previous.base_name} to {current.base_name}"
        return [PushFinding(rule="base_changed", severity=severity, message=message)]
    older = _version(new.tag or "") < _version(old.tag or "")
    if older and _version(new.tag or "") and _version(old.tag or ""):
        severity = "alert" if rules.base_downgraded else "info"
        message = f"base image downgraded from {old.tag} to {new.tag} ({new.name})"
        return [PushFinding(rule="base_downgraded", severity=severity, message=message)]
    message = f"base image moved from {old.tag} to {new.tag} ({new.name})"
    return [PushFinding(rule="base_changed", severity="info", message=message)]


def _version(tag: str) -> tuple[int, ...]:
    """`3.19.1-alpine` -> (3, 19, 1); empty when the tag has no leading number."""
    head = re.match(r"^v?(\d+(?:\.\d+)*)", tag)
    return tuple(int(part) for part in _VERSION_PART.findall(head.group(1))) if head else ()


def analyse_push(
    event: RegistryEvent, *, client: RegistryClient, store: EventStore, rules: PushRules
) -> PushAnalysis:
    """Compare a pushed image with the previous tagged push of its repository (errors become notes)."""
    check = rules.requires_signature(event.repository)
    current = image_facts(client, event.repository, event.digest, tag=event.tag, check_signature=check)
    notes: list[str] = []
    previous = None
    before = store.previous_push(event)
    if before is None:
        notes.append("first tagged push Regent has seen in this repository: nothing to compare with")
    else:
        try:
            previous = image_facts(
                client, before.repository, before.digest, tag=before.tag, check_signature=False
            )
        except RegentError as exc:
            notes.append(f"previous tag {before.tag} could not be read ({exc}); compared with nothing")
    analysis = PushAnalysis(
        event_id=event.id,
        registry=event.registry,
        repository=event.repository,
        tag=event.tag,
        digest=event.digest,
        actor=event.actor,
        pushed_at=event.at,
        current=current,
        previous=previous,
        findings=compare_images(current, previous, rules),
        notes=notes,
    )
    if previous is not None:
        analysis.size_delta_bytes = current.bytes - previous.bytes
        analysis.size_ratio = round(current.bytes / previous.bytes, 3) if previous.bytes else None
        analysis.layers_reused = len(set(current.layers) & set(previous.layers))
    return analysis

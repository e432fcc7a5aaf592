"""Policy drift: `latest` running in production, unsigned images where signatures are required, and tags
much larger than the previous tag of their repository."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tools.analysis.changes import image_bytes, tagged_units
from tools.analysis.clocks import ClockData, ClockName, Clocks
from tools.analysis.graph import RepositoryGraph
from tools.analysis.usage import STOPPED_STATES, parse_reference
from tools.inventory.models import Deployment, Digest, Manifest, RegistryInventory
from tools.policy.patterns import compile_pattern, match_any

SIGNATURE_ARTIFACT_MARKERS = ("signature", "cosign.artifact.sig")


@dataclass(frozen=True, slots=True)
class LatestInProduction:
    """A deployment in a production environment that names `latest` (or no tag) without a digest."""

    environment: str
    kind: str
    name: str
    image: str
    explicit: bool  # False when no tag was written (Docker then means `latest`)


def latest_in_production(
    deployments: Iterable[Deployment], *, production: Sequence[str]
) -> list[LatestInProduction]:
    """Running (not stopped) deployments in environments matching `production` globs that float on latest."""
    patterns = [compile_pattern(p) for p in production]
    out = []
    for deployment in deployments:
        if not patterns or not match_any(patterns, deployment.environment):
            continue
        if deployment.state in STOPPED_STATES or not deployment.image:
            continue
        ref = parse_reference(deployment.image)
        if ref.digest is not None or ref.tag not in (None, "latest"):
            continue
        out.append(
            LatestInProduction(
                deployment.environment,
                deployment.kind,
                deployment.name,
                deployment.image,
                ref.tag is not None,
            )
        )
    out.sort(key=lambda d: (d.environment, d.kind, d.name))
    return out


@dataclass(frozen=True, slots=True)
class UnsignedImage:
    """A tagged image in a repository that requires signatures, with no signature found for it."""

    registry: str
    repository: str
    digest: Digest
    tags: tuple[str, ...]


def is_signed(graph: RepositoryGraph, digest: Digest, manifests: dict[Digest, Manifest]) -> bool:
    """True when a cosign `.sig` tag or a signature artifact (OCI subject) refers to the digest."""
    for referrer, subjects in graph.subjects.items():
        if digest not in subjects:
            continue
        if any(tag.endswith(".sig") for tag in graph.signature_tags.get(referrer, ())):
            return True
        manifest = manifests.get(referrer)
        if manifest is None:
            continue
        kinds = (manifest.artifact_type, manifest.config.media_type if manifest.config else "")
        if any(marker in kind for kind in kinds for marker in SIGNATURE_ARTIFACT_MARKERS):
            return True
    return False


def unsigned_images(
    inventory: RegistryInventory, *, requires_signature: Callable[[str], bool]
) -> list[UnsignedImage]:
    """Tagged images in repositories that require signatures and have no cosign or Notary signature."""
    out = []
    for graph, digest in tagged_units(inventory):
        if requires_signature(graph.repository) and not is_signed(graph, digest, inventory.manifests):
            out.append(
                UnsignedImage(inventory.source.name, graph.repository, digest, tuple(graph.tags[digest]))
            )
    return out


@dataclass(frozen=True, slots=True)
class SizeAnomaly:
    """The newest image of a repository against the one before it, by the same clock."""

    registry: str
    repository: str
    tags: tuple[str, ...]
    digest: Digest
    bytes: int
    previous_tags: tuple[str, ...]
    previous_bytes: int
    clock: ClockName

    @property
    def ratio(self) -> float:
        """How many times larger the newest image is."""
        return self.bytes / self.previous_bytes if self.previous_bytes else float("inf")


def size_anomalies(
    inventory: RegistryInventory,
    clock_data: ClockData,
    *,
    ratio: float,
    min_increase: int,
) -> list[SizeAnomaly]:
    """Repositories whose newest image is `ratio` times and `min_increase` bytes larger than the previous.

    Images are ordered by `created`, or by `first_seen` when a repository has an image without a build
    time; an index is compared only with an index, a single image only with a single image.
    """
    clocks = Clocks(inventory.manifests, clock_data)
    by_repo: dict[str, list[tuple[RepositoryGraph, Digest]]] = {}
    for graph, digest in tagged_units(inventory):
        by_repo.setdefault(graph.repository, []).append((graph, digest))
    out = []
    for units in by_repo.values():
        found = _compare_newest(inventory, clocks, units, ratio=ratio, min_increase=min_increase)
        if found is not None:
            out.append(found)
    out.sort(key=lambda a: (-(a.bytes - a.previous_bytes), a.repository))
    return out


def _compare_newest(
    inventory: RegistryInventory,
    clocks: Clocks,
    units: list[tuple[RepositoryGraph, Digest]],
    *,
    ratio: float,
    min_increase: int,
) -> SizeAnomaly | None:
    if len(units) < 2:
        return None
    clock: ClockName = "created"
    times: list[datetime | None] = [clocks.time(d, "created") for _, d in units]
    if any(t is None for t in times):
        clock, times = "first_seen", [clocks.time(d, "first_seen") for _, d in units]
    dated = sorted(
        ((t, d, g) for t, (g, d) in zip(times, units, strict=True) if t is not None),
        key=lambda x: (x[0], x[1]),
    )
    if len(dated) < 2:
        return None
    (_, new, graph), (_, old, _) = dated[-1], dated[-2]
    new_m, old_m = inventory.manifests.get(new), inventory.manifests.get(old)
    if new_m is None or old_m is None or new_m.is_index != old_m.is_index:
        return None
    size, before = image_bytes(new_m, inventory.manifests), image_bytes(old_m, inventory.manifests)
    if size - before < min_increase or size < ratio * before:
        return None
    return SizeAnomaly(
        inventory.source.name,
        graph.repository,
        tuple(graph.tags[new]),
        new,
        size,
        tuple(graph.tags[old]),
        before,
        clock,
    )

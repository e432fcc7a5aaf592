"""What Regent knows about images, shaped for vulnerability work: names, index children, and exposure.

Exposure says where an image digest actually runs. It reuses tools.analysis.usage for the digest each
deployment resolves to, then lets a deployment of an index count for its children: for a container the
engine's image id names the platform child; without one every child counts, because overstating exposure
only makes a finding more urgent, never hides it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel

from tools.analysis.usage import STOPPED_STATES, resolve_usage
from tools.inventory.models import Deployment, Digest, InventorySnapshot, Manifest, RegistryInventory

ExposureLevel = Literal["production", "running", "stopped", "unused"]


class Exposure(BaseModel):
    """Where one image digest is deployed, summarized for triage."""

    level: ExposureLevel
    environments: list[str] = []  # environments where it runs
    production_environments: list[str] = []
    deployments: list[str] = []  # "environment/name", running ones first


UNUSED = Exposure(level="unused")


@dataclass(slots=True)
class ImageIndex:
    """Every manifest of a snapshot with names, parent indexes and config digests, across registries."""

    manifests: dict[Digest, Manifest] = field(default_factory=dict)
    names: dict[Digest, list[str]] = field(default_factory=dict)
    parents: dict[Digest, list[Digest]] = field(default_factory=dict)
    by_config: dict[Digest, list[Digest]] = field(default_factory=dict)
    registries: list[RegistryInventory] = field(default_factory=list)

    def name_of(self, digest: Digest) -> str:
        """The best human name of a digest: its first tag, else `repo@sha256:abcdef123456`."""
        names = self.names.get(digest)
        return names[0] if names else _short(digest)


def build_index(snapshot: InventorySnapshot) -> ImageIndex:
    """Index a snapshot's manifests by digest, name, parent and config digest."""
    index = ImageIndex(registries=list(snapshot.registries))
    prefix = len(snapshot.registries) > 1
    for inv in snapshot.registries:
        index.manifests.update(inv.manifests)
        for repository, tags in sorted(inv.tags.items()):
            for tag, digest in sorted(tags.items()):
                name = f"{inv.source.name}/{repository}:{tag}" if prefix else f"{repository}:{tag}"
                index.names.setdefault(digest, []).append(name)
        for repository, digests in inv.repository_digests.items():
            for digest in digests:
                index.names.setdefault(digest, [])
                if not index.names[digest]:
                    index.names[digest].append(f"{repository}@{_short(digest)}")
    for digest, manifest in index.manifests.items():
        if manifest.config is not None:
            index.by_config.setdefault(manifest.config.digest, []).append(digest)
        for child in manifest.children:
            index.parents.setdefault(child.digest, []).append(digest)
    _name_children(index)
    return index


def _name_children(index: ImageIndex) -> None:
    # An untagged platform child is named by its index's tag and its platform: "app:1.0 [linux/arm64]".
    for digest, parents in index.parents.items():
        child = index.manifests.get(digest)
        if child is None or any(not n.partition("@")[1] for n in index.names.get(digest, [])):
            continue
        platform = str(child.platform) if child.platform else "?"
        named = [f"{name} [{platform}]" for parent in parents for name in index.names.get(parent, [])]
        if named:
            index.names[digest] = sorted(set(named))


def _short(digest: Digest) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}"


def is_production(environment: str, patterns: Iterable[str]) -> bool:
    """Whether an environment name matches one of the production globs (case-sensitive, like Portainer)."""
    return any(fnmatchcase(environment, pattern) for pattern in patterns)


def compute_exposure(
    snapshot: InventorySnapshot, index: ImageIndex, *, production_patterns: list[str]
) -> dict[Digest, Exposure]:
    """Exposure of every digest something deploys; digests not in the result are unused."""
    users: dict[Digest, list[Deployment]] = {}
    for inv in snapshot.registries:
        for digest, deployments in resolve_usage(
            inv, snapshot.deployments, manifests=index.manifests
        ).items():
            bucket = users.setdefault(digest, [])
            bucket.extend(d for d in deployments if d not in bucket)
    _inherit_from_indexes(users, index)
    return {digest: _summarize(found, production_patterns) for digest, found in users.items()}


def _inherit_from_indexes(users: dict[Digest, list[Deployment]], index: ImageIndex) -> None:
    for digest, deployments in list(users.items()):
        manifest = index.manifests.get(digest)
        if manifest is None or not manifest.is_index:
            continue
        children = [c.digest for c in manifest.children if c.digest in index.manifests]
        configs = {_config_of(index.manifests, c) for c in children}
        for deployment in deployments:
            if deployment.image_id and deployment.image_id in configs:
                continue  # resolve_usage already attributed it to the exact platform child
            for child in children:
                bucket = users.setdefault(child, [])
                if deployment not in bucket:
                    bucket.append(deployment)


def _config_of(manifests: Mapping[Digest, Manifest], digest: Digest) -> Digest:
    config = manifests[digest].config
    return config.digest if config else ""


def _summarize(deployments: list[Deployment], production_patterns: list[str]) -> Exposure:
    running = [d for d in deployments if d.state not in STOPPED_STATES]
    stopped = [d for d in deployments if d.state in STOPPED_STATES]
    environments = sorted({d.environment for d in running})
    production = [env for env in environments if is_production(env, production_patterns)]
    level: ExposureLevel = "production" if production else "running" if running else "stopped"
    names = [f"{d.environment}/{d.name}" for d in running] + [f"{d.environment}/{d.name}" for d in stopped]
    return Exposure(
        level=level,
        environments=environments,
        production_environments=production,
        deployments=sorted(set(names), key=names.index),
    )

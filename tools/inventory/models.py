"""The inventory data model: registries, repositories, tags, manifests, blobs and deployments.

Plain frozen dataclasses with slots: an inventory can hold hundreds of thousands of tags, and these are
several times smaller and faster to build than validated models. Validation happens where data enters
(the clients' parsers); everything here is already trusted shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from tools.registry.media_types import INDEX_TYPES

Digest = str  # "sha256:<64 hex>"

RegistryAccess = Literal["portainer-proxy", "direct"]
DeploymentKind = Literal["container", "service", "pod", "stack"]


@dataclass(frozen=True, slots=True)
class Platform:
    """An image platform, as in an index entry or an image config."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: a layer, a config or an index child."""

    digest: Digest
    size: int
    media_type: str = ""
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """One manifest (image or index) with the facts of its config blob folded in."""

    digest: Digest
    media_type: str
    size: int  # bytes of the manifest document itself
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()  # index entries
    subject: Digest | None = None  # OCI 1.1 referrer subject
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    # From the config blob (image manifests only):
    created: datetime | None = None
    platform: Platform | None = None
    labels: dict[str, str] = field(default_factory=dict)
    diff_ids: tuple[Digest, ...] = ()

    @property
    def is_index(self) -> bool:
        """True for OCI indexes and Docker manifest lists."""
        return self.media_type in INDEX_TYPES

    def blob_digests(self) -> tuple[Digest, ...]:
        """Digests of the blobs this manifest keeps alive (config and layers, not index children)."""
        config = (self.config.digest,) if self.config else ()
        return config + tuple(layer.digest for layer in self.layers)

    @property
    def image_bytes(self) -> int:
        """Compressed size of config plus layers, as a registry stores them (not deduplicated)."""
        config = self.config.size if self.config else 0
        return config + sum(layer.size for layer in self.layers)


@dataclass(frozen=True, slots=True)
class RegistrySource:
    """Where a registry is and how Regent reaches it."""

    name: str
    url: str  # base URL with scheme, e.g. "http://127.0.0.1:5000"
    access: RegistryAccess = "direct"
    portainer_id: int | None = None
    # the adapter kind (tools/registry/kinds/select.py KINDS): custom, dockerhub, ecr, azure, gar, github,
    # gitlab, harbor, quay, proget; from Regent's config, else Portainer's type, else the host
    kind: str = "custom"
    host: str = ""  # host[:port] that image references use; differs from `url` behind the Portainer proxy
    # BE proxy for a non-administrator: an environment where the key may use this registry (`?endpointId=`)
    proxy_environment_id: int | None = None
    region: str = ""  # ECR: Portainer's `Ecr.Region` or the config's `region`
    # what a native API needs besides URL and credentials (GitLab's instance and project), sorted pairs so
    # the source stays hashable; never a secret
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def image_host(self) -> str:
        """The host part image references use for this registry (`registry.example.com:5000`)."""
        return self.host or urlsplit(self.url).netloc or self.url


@dataclass(slots=True)
class RegistryInventory:
    """Everything one crawl saw in one registry."""

    source: RegistrySource
    # repository -> tag -> digest
    tags: dict[str, dict[str, Digest]] = field(default_factory=dict)
    # repository -> digests known there (tagged ones plus index children)
    repository_digests: dict[str, set[Digest]] = field(default_factory=dict)
    manifests: dict[Digest, Manifest] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    partial: bool = False
    # What the registry's own API said (tools/registry/kinds): per digest, registry-wide (a digest in
    # several repositories: earliest push, latest pull). Empty for a plain v2 registry.
    pushed: dict[Digest, datetime] = field(default_factory=dict)
    last_pulled: dict[Digest, datetime] = field(default_factory=dict)
    native_sizes: dict[Digest, int] = field(default_factory=dict)
    # Where those clocks come from, shown next to every age they give ("ECR lastRecordedPullTime");
    # None: the registry has no such clock.
    push_clock: str | None = None
    pull_clock: str | None = None

    @property
    def tag_count(self) -> int:
        """Number of (repository, tag) pairs."""
        return sum(len(tags) for tags in self.tags.values())

    def stored_bytes(self) -> int:
        """Bytes of distinct blobs (manifests, configs, layers), each counted once registry-wide."""
        sizes: dict[Digest, int] = {}
        for manifest in self.manifests.values():
            sizes[manifest.digest] = manifest.size
            if manifest.config:
                sizes[manifest.config.digest] = manifest.config.size
            for layer in manifest.layers:
                sizes[layer.digest] = layer.size
        return sum(sizes.values())


@dataclass(frozen=True, slots=True)
class Environment:
    """A Portainer environment (or a Docker host given directly)."""

    id: int
    name: str
    kind: Literal["docker", "swarm", "kubernetes", "podman"]
    url: str = ""
    status: Literal["up", "down", "unknown"] = "unknown"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place an image is used: a container, a Swarm service, a Kubernetes pod or a stack file."""

    environment_id: int
    environment: str
    kind: DeploymentKind
    name: str
    image: str  # the reference as written (may be a tag, a digest or both)
    digest: Digest | None  # resolved manifest digest, when known
    state: str = ""  # running, exited, created, active, inactive, ...
    image_id: str = ""  # engine image id (config digest) for containers


@dataclass(slots=True)
class InventorySnapshot:
    """One crawl over every registry and environment; persisted so history exists."""

    taken_at: datetime
    registries: list[RegistryInventory] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # HTTP requests made, by method

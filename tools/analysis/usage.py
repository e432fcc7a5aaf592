"""Where each digest is used: containers (running or stopped), Swarm services, Kubernetes pods, stack files.

A deployment pins a digest when it has one resolved; otherwise its reference is resolved against the
registry's tags (a stack file's `image: host/app:1.4`), and a container's engine image id (the config
digest) matches every manifest with that config. Resolving too much only keeps more, so ambiguity errs
toward "in use".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel

from tools.inventory.models import Deployment, Digest, Manifest, RegistryInventory

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_LOOPBACK = {"localhost": "127.0.0.1"}
STOPPED_STATES = frozenset({"exited", "created", "dead", "paused", "stopped"})


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference; host is "docker.io" when the reference names none."""

    host: str
    repository: str
    tag: str | None
    digest: Digest | None


def parse_reference(image: str) -> ImageReference:
    """Split `[host[:port]/]path[:tag][@digest]` the way the Docker CLI does."""
    name, _, digest = image.strip().partition("@")
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first.lower(), rest
    else:
        host, path = "docker.io", name
    if host in DOCKER_HUB_HOSTS:
        host = "docker.io"
        if "/" not in path:
            path = f"library/{path}"
    return ImageReference(host=_normalize_host(host), repository=path, tag=tag or None, digest=digest or None)


def _normalize_host(host: str) -> str:
    name, sep, port = host.partition(":")
    return _LOOPBACK.get(name, name) + sep + port


def registry_hosts(url: str) -> frozenset[str]:
    """Host names (with port) a reference may use to mean the registry at this URL."""
    netloc = urlsplit(url if "://" in url else f"//{url}").netloc.lower()
    host = _normalize_host(netloc)
    if host.partition(":")[0] in DOCKER_HUB_HOSTS:
        return frozenset({"docker.io"})
    return frozenset({host})


def resolve_usage(
    inventory: RegistryInventory,
    deployments: Iterable[Deployment],
    *,
    manifests: Mapping[Digest, Manifest] | None = None,
) -> dict[Digest, list[Deployment]]:
    """Map each digest in use to the deployments using it (pinned, tag-resolved or by config digest)."""
    manifests = inventory.manifests if manifests is None else manifests
    hosts = registry_hosts(inventory.source.url)
    by_config: dict[Digest, list[Digest]] = {}
    usage: dict[Digest, list[Deployment]] = {}
    for deployment in deployments:
        if deployment.image_id and not by_config:
            by_config = _manifests_by_config(manifests)
        for digest in _digests_of(deployment, inventory, hosts, by_config):
            users = usage.setdefault(digest, [])
            if deployment not in users:
                users.append(deployment)
    return usage


def _digests_of(
    deployment: Deployment,
    inventory: RegistryInventory,
    hosts: frozenset[str],
    by_config: Mapping[Digest, list[Digest]],
) -> set[Digest]:
    found: set[Digest] = set()
    if deployment.digest:
        found.add(deployment.digest)
    ref = parse_reference(deployment.image) if deployment.image else None
    if ref is not None and ref.digest:
        found.add(ref.digest)  # content-addressed: the same digest in any repository is the same image
    if ref is not None and ref.tag and ref.host in hosts:
        digest = inventory.tags.get(ref.repository, {}).get(ref.tag)
        if digest:
            found.add(digest)
    if deployment.image_id:
        found.update(by_config.get(deployment.image_id, ()))
    return found


def _manifests_by_config(manifests: Mapping[Digest, Manifest]) -> dict[Digest, list[Digest]]:
    out: dict[Digest, list[Digest]] = {}
    for manifest in manifests.values():
        if manifest.config is not None:
            out.setdefault(manifest.config.digest, []).append(manifest.digest)
    return out


class DigestUsage(BaseModel):
    """Where one digest is used, grouped the way people ask about it."""

    digest: str
    references: list[str]  # repository:tag pairs in this registry pointing at the digest
    environments: list[str]
    running_containers: list[str]
    stopped_containers: list[str]
    services: list[str]
    pods: list[str]
    stacks: list[str]


def describe_usage(inventory: RegistryInventory, deployments: Iterable[Deployment]) -> list[DigestUsage]:
    """Per digest in use, its environments, containers (running/stopped), services, pods and stacks."""
    usage = resolve_usage(inventory, deployments)
    references: dict[Digest, list[str]] = {}
    for repository, tags in inventory.tags.items():
        for tag, digest in tags.items():
            if digest in usage:
                references.setdefault(digest, []).append(f"{repository}:{tag}")
    return [
        _describe(digest, users, sorted(references.get(digest, [])))
        for digest, users in sorted(usage.items())
    ]


def _describe(digest: Digest, users: list[Deployment], references: list[str]) -> DigestUsage:
    def names(kind: str, *, stopped: bool | None = None) -> list[str]:
        return sorted(
            f"{d.environment}/{d.name}"
            for d in users
            if d.kind == kind and (stopped is None or (d.state in STOPPED_STATES) == stopped)
        )

    return DigestUsage(
        digest=digest,
        references=references,
        environments=sorted({d.environment for d in users}),
        running_containers=names("container", stopped=False),
        stopped_containers=names("container", stopped=True),
        services=names("service"),
        pods=names("pod"),
        stacks=names("stack"),
    )

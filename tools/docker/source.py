"""A Docker host given directly (not through Portainer) as a deployment source of the inventory."""

from __future__ import annotations

from typing import Any

from tools.docker.client import DockerClient
from tools.errors import RegentError
from tools.inventory.inventory import DeploymentSource, EnvironmentBatch
from tools.inventory.models import Deployment, Environment
from tools.registry.reference import ReferenceError as _ReferenceError
from tools.registry.reference import parse_reference


def docker_host_source(host: str, *, environment_id: int) -> DeploymentSource:
    """A callable that lists the host's containers as deployments with resolved digests."""

    def collect() -> EnvironmentBatch:
        client = DockerClient(host)
        environment = Environment(id=environment_id, name=host, kind="docker", url=host, status="up")
        try:
            deployments = container_deployments(environment, client.containers(), client.images())
        except RegentError as exc:
            down = Environment(id=environment_id, name=host, kind="docker", url=host, status="down")
            return EnvironmentBatch(
                environments=[down], errors=[f"Docker host {host}: {exc}"], requests=client.requests
            )
        finally:
            client.close()
        return EnvironmentBatch(environments=[environment], deployments=deployments, requests=client.requests)

    return collect


def container_deployments(
    environment: Environment, containers: list[dict[str, Any]], images: list[dict[str, Any]]
) -> list[Deployment]:
    """Containers as deployments; the digest comes from the RepoDigests of the container's image."""
    repo_digests = {str(image.get("Id", "")): image.get("RepoDigests") or [] for image in images}
    deployments = []
    for container in containers:
        image = str(container.get("Image", ""))
        image_id = str(container.get("ImageID", ""))
        names = container.get("Names") or [str(container.get("Id", ""))[:12]]
        deployments.append(
            Deployment(
                environment_id=environment.id,
                environment=environment.name,
                kind="container",
                name=str(names[0]).lstrip("/"),
                image=image,
                digest=digest_from_repo_digests(image, repo_digests.get(image_id, [])),
                state=str(container.get("State", "")),
                image_id=image_id,
            )
        )
    return deployments


def digest_from_repo_digests(image: str, repo_digests: list[str]) -> str | None:
    """The manifest digest of `image` among an engine image's `RepoDigests` (`repo@sha256:…`)."""
    try:
        wanted = parse_reference(image)
    except _ReferenceError:
        return None
    if wanted.digest:
        return wanted.digest
    fallback = None
    for entry in repo_digests:
        name, _, digest = str(entry).partition("@")
        if not digest:
            continue
        try:
            candidate = parse_reference(name)
        except _ReferenceError:
            continue
        if candidate.name == wanted.name:
            return digest
        fallback = fallback or digest
    # One image pulled under several names has one digest per name; any one is only a guess.
    return fallback if len(repo_digests) == 1 else None

"""Docker containers as inventory deployments, with the manifest digest each one runs."""

from __future__ import annotations

from tools.docker.models import Container, Image
from tools.errors import ImageReferenceError
from tools.inventory.models import Deployment, Environment
from tools.registry.reference import parse_reference


def container_deployments(
    env: Environment, containers: list[Container], images: list[Image]
) -> list[Deployment]:
    """Containers (running or not); the digest comes from the RepoDigests of the container's image."""
    repo_digests = {image.id: image.repo_digests for image in images}
    return [
        Deployment(
            environment_id=env.id,
            environment=env.name,
            kind="container",
            name=container.name,
            image=container.image,
            digest=digest_from_repo_digests(container.image, repo_digests.get(container.image_id, [])),
            state=container.state,
            image_id=container.image_id,
        )
        for container in containers
    ]


def digest_from_repo_digests(image: str, repo_digests: list[str]) -> str | None:
    """The manifest digest of `image` among an engine image's `RepoDigests` (`repo@sha256:…`)."""
    try:
        wanted = parse_reference(image)
    except ImageReferenceError:
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
        except ImageReferenceError:
            continue
        if candidate.name == wanted.name:
            return digest
        fallback = fallback or digest
    # One image pulled under several names has one digest per name; any one is only a guess.
    return fallback if len(repo_digests) == 1 else None

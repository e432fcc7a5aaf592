"""Conversion of parsed Portainer data into the inventory model: environments, deployments, registry sources.

Pure functions, no HTTP: the client fetches, these translate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import yaml

from tools.errors import BadResponse
from tools.inventory.models import Deployment, Environment, RegistrySource
from tools.portainer.models import (
    Endpoint,
    Pod,
    PodContainerStatus,
    Registry,
    Service,
    Stack,
)

DOCKER_TYPES = frozenset({1, 2, 4})  # Docker API, agent, Edge agent
KUBERNETES_TYPES = frozenset({5, 6, 7})  # local, agent, Edge agent
STACK_STATES = {1: "active", 2: "inactive", 3: "deploying", 4: "error"}
KUBERNETES_STACK = 3
# A hostile stack file can nest YAML aliases so a naive walk takes exponential time; stop early instead.
MAX_YAML_NODES = 100_000
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_]\w*)")


def to_environment(endpoint: Endpoint) -> Environment | None:
    """The inventory's view of an environment; None for kinds without images (Azure ACI, type 3)."""
    kind: Literal["docker", "kubernetes", "podman"]
    if endpoint.type in DOCKER_TYPES:
        kind = "podman" if endpoint.container_engine == "podman" else "docker"
    elif endpoint.type in KUBERNETES_TYPES:
        kind = "kubernetes"
    else:
        return None
    status: Literal["up", "down", "unknown"] = {1: "up", 2: "down"}.get(endpoint.status, "unknown")  # type: ignore[assignment]
    return Environment(id=endpoint.id, name=endpoint.name, kind=kind, url=endpoint.url, status=status)


def digest_after_at(reference: str) -> str | None:
    """The `sha256:...` after `@` in a reference or a runtime imageID, if there is one."""
    _, at, digest = reference.rpartition("@")
    return digest if at and digest.startswith("sha256:") else None


def _deployment(env: Environment, **fields: Any) -> Deployment:
    return Deployment(environment_id=env.id, environment=env.name, **fields)


def service_deployments(env: Environment, services: list[Service]) -> list[Deployment]:
    """Swarm services; Swarm pins the digest in the image reference (`repo:tag@sha256:...`)."""
    return [
        _deployment(
            env,
            kind="service",
            name=service.spec.name or service.id[:12],
            image=service.image,
            digest=digest_after_at(service.image),
            state="active",
        )
        for service in services
    ]


def pod_deployments(env: Environment, pods: list[Pod]) -> list[Deployment]:
    """One deployment per container and init container of each pod; the digest is what the runtime reports."""
    found = []
    for pod in pods:
        statuses = {s.name: s for s in [*pod.status.container_statuses, *pod.status.init_container_statuses]}
        for container in [*pod.spec.containers, *pod.spec.init_containers]:
            status = statuses.get(container.name) or PodContainerStatus.model_validate(
                {"name": container.name}
            )
            # A bare `sha256:` imageID is the config digest on some runtimes, not a manifest digest.
            digest = digest_after_at(status.image_id) or digest_after_at(container.image)
            found.append(
                _deployment(
                    env,
                    kind="pod",
                    name=f"{pod.metadata.namespace}/{pod.metadata.name}/{container.name}",
                    image=container.image,
                    digest=digest,
                    state=pod.status.phase.lower(),
                )
            )
    return found


def stack_deployments(env: Environment, stack: Stack, content: str) -> list[Deployment]:
    """Images a stack file declares; a digest only where pinned (tags get resolved against registries)."""
    variables = {item.name: item.value for item in stack.env}
    if stack.type == KUBERNETES_STACK:
        images = list(_manifest_images(content))
    else:
        images = [(service, interpolate(image, variables)) for service, image in _compose_images(content)]
    return [
        _deployment(
            env,
            kind="stack",
            name=f"{stack.name}/{where}",
            image=image,
            digest=digest_after_at(image),
            state=STACK_STATES.get(stack.status, "unknown"),
        )
        for where, image in images
    ]


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose variable substitution: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`, `$$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        if match.group(2) == ":-" and not value:
            return match.group(3)
        if match.group(2) == "-" and value is None:
            return match.group(3)
        return value or ""

    return _VARIABLE.sub(replace, text)


def _load_yaml(content: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(content))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadResponse(f"stack file is not valid YAML{where}") from None
    except RecursionError:  # `[[[[…` thousands deep: PyYAML's composer recurses once per level
        raise BadResponse("stack file is nested too deeply to read") from None


def _compose_images(content: str) -> Iterator[tuple[str, str]]:
    for document in _load_yaml(content):
        services = document.get("services") if isinstance(document, dict) else None
        if not isinstance(services, dict):  # `services: [a, b]` is no Compose file; there is nothing to read
            continue
        for name, service in services.items():
            if isinstance(service, dict) and isinstance(service.get("image"), str):
                yield str(name), service["image"]


def _manifest_images(content: str) -> Iterator[tuple[str, str]]:
    budget = [MAX_YAML_NODES]
    for document in _load_yaml(content):
        if not isinstance(document, dict):
            continue
        metadata = document.get("metadata")
        name = metadata.get("name", "") if isinstance(metadata, dict) else ""
        owner = f"{document.get('kind', 'object')}/{name}"
        for container, image in _containers_in(document, budget):
            yield f"{owner}/{container}", image


def _containers_in(root: Any, budget: list[int]) -> Iterator[tuple[str, str]]:
    # A walk with its own stack, in document order: YAML aliases can make a cycle (`a: &a [*a]`) or a
    # deep chain, which a recursive walk followed until RecursionError; the node budget ends both.
    stack: list[tuple[bool, Any]] = [(False, root)]  # (is a containers list, node)
    while stack:
        is_containers, node = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise BadResponse("stack file is too large or too deeply aliased to read")
        if is_containers:
            for item in node:
                if isinstance(item, dict) and isinstance(item.get("image"), str):
                    yield str(item.get("name", "")), item["image"]
        elif isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                stack.append((key in ("containers", "initContainers") and isinstance(value, list), value))
        elif isinstance(node, list):
            stack.extend((False, item) for item in reversed(node))


def registry_source(
    registry: Registry, *, portainer_url: str, proxied: bool, scheme: str = "https"
) -> RegistrySource:
    """Where a Portainer registry is: BE reaches it through Portainer's proxy, CE directly over `scheme`."""
    host = registry.url.split("://", 1)[-1].split("/", 1)[0]
    direct = f"{scheme}://{host}"
    if registry.kind == "dockerhub" and host in ("", "docker.io", "index.docker.io"):
        host, direct = "docker.io", "https://registry-1.docker.io"
    return RegistrySource(
        name=registry.name,
        url=f"{portainer_url}/api/registries/{registry.id}" if proxied else direct,
        access="portainer-proxy" if proxied else "direct",
        portainer_id=registry.id,
        kind=registry.kind,
        host=host,
        region=registry.ecr_region,
        extra=tuple(sorted(registry.native_extra.items())),
    )

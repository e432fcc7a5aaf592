"""What runs, or is declared, in Portainer's environments: containers, services, pods and stack files.

A mixin of PortainerClient (tools/portainer/client.py), which does every HTTP request. Stacks are
listed once, unfiltered, and grouped by `EndpointId` here: Portainer's `?filters={"EndpointID": N}` drops
Swarm stacks (unless `SwarmID` matches) and every Kubernetes stack (stack_list.go:119-135).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from tools.docker.deployments import container_deployments
from tools.docker.models import Container, Image
from tools.errors import UpstreamError
from tools.inventory.models import Deployment, Environment
from tools.portainer import environments as convert
from tools.portainer.models import DockerInfo, Pod, PodList, Service, Stack, StackFile

T = TypeVar("T")


class DeploymentCalls:
    """Deployment methods of PortainerClient."""

    if TYPE_CHECKING:  # implemented by PortainerClient

        def _get(
            self, shape: type[T], path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
        ) -> T: ...

    def docker_info(self, environment_id: int) -> DockerInfo:
        """Docker's `GET /info` on an environment (tells a Swarm manager apart)."""
        return self._get(DockerInfo, f"/api/endpoints/{environment_id}/docker/info")

    def containers(self, environment_id: int) -> list[Container]:
        """All containers, running or not."""
        path = f"/api/endpoints/{environment_id}/docker/containers/json"
        return self._get(list[Container], path, params={"all": "1"})

    def images(self, environment_id: int) -> list[Image]:
        """Top-level images with their RepoDigests."""
        return self._get(list[Image], f"/api/endpoints/{environment_id}/docker/images/json")

    def services(self, environment_id: int) -> list[Service]:
        """Swarm services (the environment must be a Swarm manager)."""
        return self._get(list[Service], f"/api/endpoints/{environment_id}/docker/services")

    def pods(self, environment_id: int, *, namespace: str | None = None) -> list[Pod]:
        """Kubernetes pods, cluster-wide or in one namespace."""
        scope = f"/namespaces/{namespace}" if namespace else ""
        path = f"/api/endpoints/{environment_id}/kubernetes/api/v1{scope}/pods"
        return self._get(PodList, path).items

    def stacks(self) -> list[Stack]:
        """Every stack Portainer manages, of every type, unfiltered.

        Never `?filters={"EndpointID": N}`: that filter returns only Compose stacks of N and Swarm stacks
        of a matching `SwarmID`, and never a Kubernetes stack (stack_list.go:119-135), so images named
        only in Swarm or Kubernetes stack files would look unused. Group with `stacks_by_environment`.
        """
        return self._get(list[Stack], "/api/stacks")

    def stacks_by_environment(self) -> dict[int, list[Stack]]:
        """Every stack, grouped by its `EndpointId` (one request for the whole inventory)."""
        grouped: dict[int, list[Stack]] = {}
        for stack in self.stacks():
            grouped.setdefault(stack.endpoint_id, []).append(stack)
        return grouped

    def stack_file(self, stack_id: int) -> str:
        """The stack's file (compose YAML, or Kubernetes manifests for type 3)."""
        return self._get(StackFile, f"/api/stacks/{stack_id}/file").content

    def deployments(
        self, env: Environment, *, stacks: list[Stack] | None = None
    ) -> tuple[list[Deployment], list[str]]:
        """Everything deployed in `env`, and what could not be read; one failing part never hides the rest.

        `stacks` are the environment's stacks when the caller listed them once for every environment
        (`stacks_by_environment`); without them the stacks are listed here.
        """
        steps: list[tuple[str, Callable[[], list[Deployment]]]] = []
        if env.kind == "kubernetes":
            steps.append(("pods", lambda: convert.pod_deployments(env, self.pods(env.id))))
        else:
            steps.append(("containers", lambda: self._container_deployments(env)))
            steps.append(("services", lambda: self._service_deployments(env)))
        found: list[Deployment] = []
        errors: list[str] = []
        for part, step in steps:
            try:
                found.extend(step())
            except UpstreamError as exc:
                errors.append(f"environment {env.name}: {part}: {exc}")
        declared, stack_errors = self.stack_deployments(env, stacks=stacks)
        return found + declared, errors + stack_errors

    def _container_deployments(self, env: Environment) -> list[Deployment]:
        return container_deployments(env, self.containers(env.id), self.images(env.id))

    def _service_deployments(self, env: Environment) -> list[Deployment]:
        # Asking a non-manager for services gives a 503 that retries would repeat; /info says it up front.
        swarm = self.docker_info(env.id).swarm
        if not (swarm.local_node_state == "active" and swarm.control_available):
            return []
        return convert.service_deployments(env, self.services(env.id))

    def stack_deployments(
        self, env: Environment, *, stacks: list[Stack] | None = None
    ) -> tuple[list[Deployment], list[str]]:
        """Images the environment's stack files declare (Compose, Swarm and Kubernetes alike).

        Stack files live in Portainer's database, so they are readable even when the environment is down.
        """
        if stacks is None:
            try:
                stacks = self.stacks_by_environment().get(env.id, [])
            except UpstreamError as exc:
                return [], [f"environment {env.name}: stacks: {exc}"]
        found: list[Deployment] = []
        errors: list[str] = []
        for stack in stacks:
            try:
                found.extend(convert.stack_deployments(env, stack, self.stack_file(stack.id)))
            except UpstreamError as exc:
                errors.append(f"environment {env.name}: stack {stack.name}: {exc}")
        return found, errors

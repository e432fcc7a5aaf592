"""Portainer as inventory sources: its registries (BE proxy or direct) and its environments' deployments."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tools.errors import RegentError
from tools.inventory.inventory import DeploymentSource, EnvironmentBatch
from tools.inventory.models import Deployment, Environment
from tools.portainer.client import PortainerClient
from tools.portainer.models import Stack


def portainer_deployment_source(client: PortainerClient, *, workers: int = 4) -> DeploymentSource:
    """A callable that lists every environment and what is deployed or declared in each, concurrently.

    Stacks are listed once for all environments and grouped by `EndpointId` (a per-environment filter
    would miss Swarm and Kubernetes stacks). A down environment still contributes its stack files: they
    live in Portainer's database, and an image they name is in use as soon as the environment is back.
    """

    def collect() -> EnvironmentBatch:
        before = Counter(client.requests)
        batch = EnvironmentBatch()
        try:
            environments = client.environments()
        except RegentError as exc:
            batch.errors.append(f"Portainer {client.url}: environments: {exc}")
            batch.requests = Counter(client.requests) - before
            return batch
        batch.environments = environments
        try:
            stacks: dict[int, list[Stack]] | None = client.stacks_by_environment()
        except RegentError as exc:
            batch.errors.append(f"Portainer {client.url}: stacks: {exc}")
            stacks = None

        def read(env: Environment) -> tuple[list[Deployment], list[str]]:
            mine = [] if stacks is None else stacks.get(env.id, [])
            if env.status == "down":
                found, errors = client.stack_deployments(env, stacks=mine)
                return found, [f"environment {env.name} is down", *errors]
            return client.deployments(env, stacks=mine)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portainer") as pool:
            for deployments, errors in pool.map(read, environments):
                batch.deployments.extend(deployments)
                batch.errors.extend(errors)
        batch.requests = Counter(client.requests) - before
        return batch

    return collect

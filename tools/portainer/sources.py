"""Portainer as inventory sources: its registries (BE proxy or direct) and its environments' deployments."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tools.errors import RegentError
from tools.inventory.inventory import DeploymentSource, EnvironmentBatch
from tools.portainer.client import PortainerClient


def portainer_deployment_source(client: PortainerClient, *, workers: int = 4) -> DeploymentSource:
    """A callable that lists every environment and what is deployed in each, concurrently."""

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
        up = [env for env in environments if env.status != "down"]
        batch.errors.extend(f"environment {env.name} is down" for env in environments if env.status == "down")
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portainer") as pool:
            for deployments, errors in pool.map(client.deployments, up):
                batch.deployments.extend(deployments)
                batch.errors.extend(errors)
        batch.requests = Counter(client.requests) - before
        return batch

    return collect

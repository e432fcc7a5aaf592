"""A Docker host given directly (not through Portainer) as a deployment source of the inventory."""

from __future__ import annotations

from tools.docker.client import DockerClient
from tools.docker.deployments import container_deployments
from tools.errors import RegentError
from tools.inventory.inventory import DeploymentSource, EnvironmentBatch
from tools.inventory.models import Environment


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

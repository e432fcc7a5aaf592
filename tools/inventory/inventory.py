"""One inventory run: every registry and every environment, concurrently, into one snapshot."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tools.errors import ImageReferenceError, RegentError
from tools.inventory.crawl import DEFAULT_WORKERS, Known, Progress, TagMap, crawl_registry, no_progress
from tools.inventory.models import (
    Deployment,
    Environment,
    InventorySnapshot,
    RegistryInventory,
    RegistrySource,
)
from tools.registry.client import RegistryClient
from tools.registry.reference import parse_reference


@dataclass(slots=True)
class EnvironmentBatch:
    """What one deployment source (Portainer, a Docker host) reported."""

    environments: list[Environment] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)


DeploymentSource = Callable[[], EnvironmentBatch]


@dataclass(frozen=True, slots=True)
class RegistryTarget:
    """A registry to crawl, with its client, the tag map of the previous crawl and the manifests the latest
    snapshot holds (an unchanged tag reuses them: tools/inventory/crawl.py)."""

    source: RegistrySource
    client: RegistryClient
    previous: TagMap = field(default_factory=dict)
    known: Known = field(default_factory=dict)

    def crawl(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        progress: Progress = no_progress,
        repositories: Sequence[str] | None = None,
        cancel: threading.Event | None = None,
    ) -> RegistryInventory:
        """crawl_registry over this target, from what its previous crawl saw."""
        return crawl_registry(
            self.client,
            self.source,
            previous=self.previous,
            known=self.known,
            workers=workers,
            progress=progress,
            repositories=repositories,
            cancel=cancel,
        )


def run_inventory(
    registries: Iterable[RegistryTarget],
    deployment_sources: Iterable[DeploymentSource],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
    cancel: threading.Event | None = None,
) -> InventorySnapshot:
    """Crawl everything; failures of one registry or environment end up in `errors`, never raised.

    Setting `cancel` skips the tags not yet read (see crawl_registry): the snapshot is then partial.
    """
    targets = list(registries)
    sources = list(deployment_sources)
    snapshot = InventorySnapshot(taken_at=now or datetime.now(UTC))
    sink: Progress = progress or (lambda what, done, total: None)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="inventory") as pool:
        batches = [pool.submit(_collect, source) for source in sources]
        crawled = list(
            pool.map(
                lambda t: t.crawl(workers=workers, progress=sink, cancel=cancel),
                targets,
            )
        )
        collected = [future.result() for future in batches]
    requests: Counter[str] = Counter()
    for target, inventory in zip(targets, crawled, strict=True):
        snapshot.registries.append(inventory)
        snapshot.errors.extend(inventory.errors)
        requests.update(target.client.requests)
    for batch in collected:
        snapshot.environments.extend(batch.environments)
        snapshot.deployments.extend(batch.deployments)
        snapshot.errors.extend(batch.errors)
        requests.update(batch.requests)
    snapshot.deployments = resolve_deployments(snapshot.deployments, snapshot.registries)
    snapshot.requests = dict(requests)
    return snapshot


def _collect(source: DeploymentSource) -> EnvironmentBatch:
    try:
        return source()
    except RegentError as exc:
        return EnvironmentBatch(errors=[str(exc)])


def resolve_deployments(
    deployments: list[Deployment], registries: list[RegistryInventory]
) -> list[Deployment]:
    """Fill in digests of deployments that name a tag (stack files, services) from the crawled tags."""
    by_host = {inv.source.image_host: inv for inv in registries}
    resolved: list[Deployment] = []
    for deployment in deployments:
        digest = deployment.digest or _digest_for(deployment.image, by_host)
        resolved.append(deployment if digest == deployment.digest else replace(deployment, digest=digest))
    return resolved


def _digest_for(image: str, by_host: dict[str, RegistryInventory]) -> str | None:
    try:
        ref = parse_reference(image)
    except ImageReferenceError:
        return None
    if ref.digest:
        return ref.digest
    inventory = by_host.get(ref.registry)
    if inventory is None or ref.tag is None:
        return None
    return inventory.tags.get(ref.repository, {}).get(ref.tag)

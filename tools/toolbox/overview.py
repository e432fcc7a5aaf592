"""Overview tools: list_registries, list_environments, registry_usage and image_usage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.cost import monthly_cost, storage_price
from tools.analysis.graph import repository_digest_sets
from tools.analysis.reclaim import compute_reclaim
from tools.analysis.storage import repository_bytes
from tools.analysis.text import clean_text
from tools.analysis.usage import STOPPED_STATES
from tools.analysis.view import RegistryView
from tools.inventory.models import Deployment, Digest
from tools.policy.patterns import compile_pattern
from tools.toolbox.catalog import catalog_of
from tools.toolbox.context import Call
from tools.toolbox.results import ToolResult, compile_glob, cut_note, public_url
from tools.units import format_bytes


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListRegistriesArgs(_Args):
    """List the registries in the latest inventory: URL, kind, counts, stored bytes and crawl problems."""


class RegistryRow(BaseModel):
    """One registry."""

    name: str
    url: str
    kind: str
    access: str
    repositories: int
    tags: int
    manifests: int
    stored_bytes: int
    stored: str
    partial: bool
    errors: list[str]
    monthly_cost: float | None = None


class ListRegistriesResult(ToolResult):
    """Registries of the latest snapshot."""

    snapshot_taken_at: str
    registries: list[RegistryRow]


def list_registries(call: Call, args: ListRegistriesArgs) -> ListRegistriesResult:
    """Registries with counts and health."""
    catalog = catalog_of(call)
    rows = []
    for view in catalog.views[:50]:
        inv, source = view.inventory, view.inventory.source
        stored = inv.stored_bytes()
        rows.append(
            RegistryRow(
                name=source.name,
                url=public_url(source.url),
                kind=source.kind,
                access=source.access,
                repositories=len(inv.tags),
                tags=inv.tag_count,
                manifests=len(inv.manifests),
                stored_bytes=stored,
                stored=format_bytes(stored),
                partial=inv.partial,
                errors=[clean_text(e) for e in inv.errors[:3]],
                monthly_cost=_monthly_cost(call, view, stored),
            )
        )
    note = cut_note(len(rows), len(catalog.views), "registries", "ask about one registry by name")
    return ListRegistriesResult(
        snapshot_taken_at=catalog.snapshot.taken_at.isoformat(timespec="seconds"),
        registries=rows,
        truncated=note is not None,
        note=note,
    )


class ListEnvironmentsArgs(_Args):
    """List the Portainer environments and Docker hosts: kind, status, production group, and how many
    containers, services, pods and stacks they run."""

    name: str | None = Field(None, description="Environment name glob, e.g. 'prod-*'; all when null")


class EnvironmentRow(BaseModel):
    """One environment."""

    id: int
    name: str
    kind: str
    status: str
    groups: list[str]
    containers: int
    running_containers: int
    services: int
    pods: int
    stacks: int


class ListEnvironmentsResult(ToolResult):
    """Environments of the latest snapshot."""

    environments: list[EnvironmentRow]


def list_environments(call: Call, args: ListEnvironmentsArgs) -> ListEnvironmentsResult:
    """Environments with deployment counts."""
    snapshot = call.require_snapshot()
    name_re = compile_glob(args.name, "environment")
    groups = {g: [compile_pattern(p) for p in pats] for g, pats in call.context.production.items()}
    rows = []
    for env in snapshot.environments:
        if name_re is not None and not name_re.match(env.name):
            continue
        mine = [d for d in snapshot.deployments if d.environment_id == env.id]
        containers = [d for d in mine if d.kind == "container"]
        rows.append(
            EnvironmentRow(
                id=env.id,
                name=clean_text(env.name, limit=120),
                kind=env.kind,
                status=env.status,
                groups=sorted(g for g, pats in groups.items() if any(p.match(env.name) for p in pats)),
                containers=len(containers),
                running_containers=sum(1 for d in containers if d.state not in STOPPED_STATES),
                services=sum(1 for d in mine if d.kind == "service"),
                pods=sum(1 for d in mine if d.kind == "pod"),
                stacks=sum(1 for d in mine if d.kind == "stack"),
            )
        )
    shown = rows[:50]
    note = cut_note(len(shown), len(rows), "environments", "filter with a name glob")
    return ListEnvironmentsResult(environments=shown, truncated=note is not None, note=note)


class RegistryUsageArgs(_Args):
    """Storage per registry: deduplicated stored bytes, what layer sharing saves, and the repositories
    taking the most space with the bytes deleting each whole repository would free."""

    registry: str | None = Field(None, description="Registry name; all registries when null")
    top: int = Field(10, ge=1, le=25, description="How many of the largest repositories to list per registry")


class RepositoryUsage(BaseModel):
    """One repository's share of a registry."""

    repository: str
    tags: int
    manifests: int
    referenced_bytes: int  # distinct blobs its manifests reference (shared ones included)
    exclusive_bytes: int  # freed after GC if the whole repository were deleted
    in_use_digests: int


class RegistryUsageRow(BaseModel):
    """Totals of one registry."""

    registry: str
    stored_bytes: int
    stored: str
    without_sharing_bytes: int  # every image's blobs counted separately
    shared_layer_savings_bytes: int
    shared_layer_savings: str
    repositories: int
    tags: int
    monthly_cost: float | None = None
    top_repositories: list[RepositoryUsage]


class RegistryUsageResult(ToolResult):
    """Storage use per registry."""

    registries: list[RegistryUsageRow]


def registry_usage(call: Call, args: RegistryUsageArgs) -> RegistryUsageResult:
    """Totals, top repositories and shared-layer savings."""
    catalog = catalog_of(call)
    rows = [_usage_row(call, view, top=args.top) for view in catalog.registry(args.registry)[:10]]
    return RegistryUsageResult(headline="; ".join(_usage_headline(row) for row in rows[:3]), registries=rows)


def _usage_headline(row: RegistryUsageRow) -> str:
    line = (
        f"registry {row.registry} stores {row.stored} ({row.stored_bytes:,} bytes) "
        f"in {row.repositories} repositories"
    )
    if row.top_repositories:
        top = row.top_repositories[0]
        line += (
            f"; the largest repository is {top.repository} ({format_bytes(top.referenced_bytes)}, "
            f"{top.referenced_bytes:,} bytes)"
        )
    return line


def _usage_row(call: Call, view: RegistryView, *, top: int) -> RegistryUsageRow:
    inv = view.inventory
    manifests = inv.manifests
    sets = repository_digest_sets(inv, manifests)
    referenced = repository_bytes(inv)
    without_sharing = sum(m.size + m.image_bytes for m in manifests.values())
    stored = inv.stored_bytes()
    biggest = sorted(referenced, key=lambda r: (-referenced[r], r))[:top]
    tops = [
        RepositoryUsage(
            repository=clean_text(repository),
            tags=len(inv.tags.get(repository, {})),
            manifests=len(sets[repository]),
            referenced_bytes=referenced[repository],
            exclusive_bytes=compute_reclaim(
                sets, manifests, [(repository, d) for d in sets[repository]]
            ).total,
            in_use_digests=sum(1 for d in sets[repository] if d in view.usage),
        )
        for repository in biggest
    ]
    return RegistryUsageRow(
        registry=view.name,
        stored_bytes=stored,
        stored=format_bytes(stored),
        without_sharing_bytes=without_sharing,
        shared_layer_savings_bytes=max(0, without_sharing - stored),
        shared_layer_savings=format_bytes(max(0, without_sharing - stored)),
        repositories=len(inv.tags),
        tags=inv.tag_count,
        monthly_cost=_monthly_cost(call, view, stored),
        top_repositories=tops,
    )


def _monthly_cost(call: Call, view: RegistryView, stored: int) -> float | None:
    """Storage cost a month at the configured or cloud-default price (tools.analysis.cost); None if free."""
    price = storage_price(view.inventory.source, configured=call.context.cost_per_gb_month)
    return round(monthly_cost(stored, price.per_gb_month), 2) if price.per_gb_month else None


class ImageUsageArgs(_Args):
    """Which images run where: each container, service, pod or stack with its image, the digest it
    resolves to and the registry holding it."""

    environment: str | None = Field(None, description="Environment name glob; all when null")
    image: str | None = Field(None, description="Part of the image name, e.g. 'shop/api', or a glob")
    state: Literal["any", "running", "stopped"] = Field("any", description="Container state filter")
    not_in_registry: bool | None = Field(
        None, description="true: only deployments whose image no crawled registry holds"
    )
    limit: int = Field(30, ge=1, le=50, description="Maximum rows to return")


class DeploymentRow(BaseModel):
    """One deployment and the image it uses."""

    environment: str
    kind: str
    name: str
    state: str
    image: str
    digest: str | None
    registry: str | None
    repository_tags: list[str]


class ImageUsageResult(ToolResult):
    """Deployments and their images."""

    matched: int
    deployments: list[DeploymentRow]


def image_usage(call: Call, args: ImageUsageArgs) -> ImageUsageResult:
    """Deployments with their images, resolved against the registries."""
    catalog = catalog_of(call)
    env_re, image_matches = compile_glob(args.environment, "environment"), _image_filter(args.image)
    where: dict[Deployment, tuple[RegistryView, Digest]] = {}
    for view in catalog.views:
        for digest, users in view.usage.items():
            for deployment in users:
                where.setdefault(deployment, (view, digest))
    rows = []
    for deployment in catalog.snapshot.deployments:
        if env_re is not None and not env_re.match(deployment.environment):
            continue
        if not image_matches(deployment.image):
            continue
        stopped = deployment.state in STOPPED_STATES
        if (args.state == "running" and stopped) or (args.state == "stopped" and not stopped):
            continue
        found = where.get(deployment)
        if args.not_in_registry is not None and (found is None) != args.not_in_registry:
            continue
        rows.append(_deployment_row(deployment, found))
    shown = rows[: args.limit]
    note = cut_note(len(shown), len(rows), "deployments", "filter by environment, image or state")
    places = ", ".join(f"{r.name} ({r.state}, {r.image}) in {r.environment}" for r in shown[:5])
    return ImageUsageResult(
        headline=f"{len(rows)} deployment(s) match" + (f": {places}" if places else ""),
        matched=len(rows),
        deployments=shown,
        truncated=note is not None,
        note=note,
    )


def _image_filter(value: str | None) -> Callable[[str], bool]:
    """A deployed image reference matches a plain name by containment ('shop/api' matches
    '10.0.0.5:5000/shop/api:1.4'), and a glob against the reference with or without its registry host."""
    if not value:
        return lambda _image: True
    if not any(char in value for char in "*?["):
        needle = value.lower()
        return lambda image: needle in image.lower()
    pattern = compile_glob(value, "image")
    assert pattern is not None  # value is not empty

    def matches(image: str) -> bool:
        first, _, rest = image.partition("/")
        without_host = rest if rest and ("." in first or ":" in first or first == "localhost") else image
        return bool(pattern.match(image) or pattern.match(without_host))

    return matches


def _deployment_row(deployment: Deployment, found: tuple[RegistryView, Digest] | None) -> DeploymentRow:
    view, digest = found if found is not None else (None, deployment.digest)
    return DeploymentRow(
        environment=clean_text(deployment.environment, limit=120),
        kind=deployment.kind,
        name=clean_text(deployment.name, limit=120),
        state=deployment.state or "unknown",
        image=clean_text(deployment.image),
        digest=digest,
        registry=view.name if view is not None else None,
        repository_tags=view.references(digest)[:3] if view is not None and digest else [],
    )

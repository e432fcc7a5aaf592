"""Storage cost: a price per GB-month per registry, with defaults for the common clouds.

Defaults are the list prices (US regions, 2026) of container image storage beyond any free or included
allowance: Amazon ECR $0.10, Google Artifact Registry $0.10, Azure Container Registry $0.10 (over the
tier's included storage; the tier's daily fee is not modelled). Everything else (self-hosted, Harbor,
GitLab, Quay, Docker Hub, GHCR: flat plans or free) defaults to 0. A GB here is 2^30 bytes, as cloud
bills count it. Prices are configurable per registry; the digest says which price it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from tools.inventory.models import RegistrySource

GIB = 1024**3
DEFAULT_COST_PER_GB_MONTH: Mapping[str, float] = {"ecr": 0.10, "gar": 0.10, "azure": 0.10}
_HOST_SUFFIXES = (
    (".amazonaws.com", "ecr"),
    (".azurecr.io", "azure"),
    ("-docker.pkg.dev", "gar"),
    ("gcr.io", "gar"),
)

PriceSource = Literal["configured", "cloud default", "self-hosted default"]


def registry_cloud(source: RegistrySource) -> str:
    """The cloud a registry lives in ("ecr", "azure", "gar"), else its kind; from Portainer's type or host."""
    if source.kind in DEFAULT_COST_PER_GB_MONTH:
        return source.kind
    host = (source.host or urlsplit(source.url).hostname or "").lower().split(":")[0]
    for suffix, cloud in _HOST_SUFFIXES:
        if host.endswith(suffix) and (cloud != "ecr" or ".ecr." in host):
            return cloud
    return source.kind


@dataclass(frozen=True, slots=True)
class Price:
    """The storage price used for one registry and where it came from."""

    per_gb_month: float
    source: PriceSource


def storage_price(source: RegistrySource, *, configured: Mapping[str, float]) -> Price:
    """The configured price (by registry name or URL) if any, else the cloud default, else 0."""
    for key in (source.name, source.url):
        if key in configured:
            return Price(configured[key], "configured")
    cloud = registry_cloud(source)
    if cloud in DEFAULT_COST_PER_GB_MONTH:
        return Price(DEFAULT_COST_PER_GB_MONTH[cloud], "cloud default")
    return Price(0.0, "self-hosted default")


def monthly_cost(stored_bytes: int, per_gb_month: float) -> float:
    """Cost of storing these bytes for a month at this price."""
    return stored_bytes / GIB * per_gb_month

"""Pull-through cache advice: which upstream registries the environments depend on, ranked by hosts and
pulls, and the configuration for a distribution pull-through cache (`proxy.remoteurl`) per upstream.

One distribution instance proxies exactly one upstream. Docker's `registry-mirrors` daemon setting only
applies to Docker Hub images; images from other upstreams must be referenced through the cache's host
(or, for containerd and Kubernetes nodes, mirrored with a hosts.toml), so the advice says which applies.
Credentials are never written into generated config: distribution reads REGISTRY_PROXY_USERNAME and
REGISTRY_PROXY_PASSWORD from its environment.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import yaml
from pydantic import BaseModel, Field

from tools.errors import ImageReferenceError
from tools.events.models import RegistryEvent
from tools.inventory.models import Deployment
from tools.registry.reference import DOCKER_HUB, parse_reference

REMOTE_URLS = {DOCKER_HUB: "https://registry-1.docker.io"}
DEFAULT_TTL = "168h"


class UpstreamImage(BaseModel):
    """One upstream repository the environments use."""

    reference: str = Field(description="registry/repository, e.g. docker.io/library/nginx")
    hosts: int = Field(description="environments running it")
    deployments: int
    pulls: int = Field(description="pulls seen through configured caches")


class UpstreamUsage(BaseModel):
    """How much the environments depend on one upstream registry."""

    registry: str
    hosts: int
    images: int
    deployments: int
    pulls: int
    top_images: list[UpstreamImage]
    suggest_cache: bool
    reason: str
    cached_by: str | None = Field(default=None, description="configured cache host that already mirrors it")


class CacheConfig(BaseModel):
    """A generated pull-through cache for one upstream."""

    upstream: str
    cache_host: str
    distribution_config: str = Field(description="config.yml for a distribution (docker-registry) cache")
    docker_daemon_json: str | None = Field(description="daemon.json fragment; only for Docker Hub")
    image_rewrites: list[str] = Field(description="how references change when docker cannot mirror it")
    notes: list[str]


class CacheAdvice(BaseModel):
    """Upstreams ranked by hosts then pulls, with configs for those worth caching."""

    upstreams: list[UpstreamUsage]
    configs: list[CacheConfig]
    environments: int
    deployments_seen: int


def upstream_of(image: str, *, own_hosts: Iterable[str]) -> tuple[str, str] | None:
    """(upstream registry, repository) of an image reference, or None for own registries and bad refs."""
    try:
        ref = parse_reference(image, default_tag=None)
    except ImageReferenceError:
        return None
    own = {host.lower() for host in own_hosts}
    if ref.registry.lower() in own or ref.registry.startswith(("127.", "localhost")):
        return None
    return ref.registry.lower(), ref.repository


def rank_upstreams(
    deployments: Sequence[Deployment],
    pulls: Sequence[RegistryEvent],
    *,
    own_hosts: Iterable[str],
    mirrors: Mapping[str, str],
    min_hosts: int = 2,
    min_pulls: int = 100,
    top: int = 5,
) -> list[UpstreamUsage]:
    """Upstream registries by distinct hosts, then pulls; pulls come from events of configured caches."""
    own = set(own_hosts) | set(mirrors)
    hosts: dict[str, set[int]] = defaultdict(set)
    image_hosts: dict[tuple[str, str], set[int]] = defaultdict(set)
    image_deployments: Counter[tuple[str, str]] = Counter()
    image_pulls: Counter[tuple[str, str]] = Counter()
    for deployment in deployments:
        found = upstream_of(deployment.image, own_hosts=own)
        if found is not None:
            hosts[found[0]].add(deployment.environment_id)
            image_hosts[found].add(deployment.environment_id)
            image_deployments[found] += 1
    for event in pulls:
        upstream = mirrors.get(event.registry)
        if upstream and event.action == "pull" and event.kind == "manifest":
            key = (_normal_upstream(upstream), event.repository)
            image_pulls[key] += 1
    registries = {key[0] for key in image_deployments} | {key[0] for key in image_pulls}
    out = []
    for registry in registries:
        images = {key for key in set(image_deployments) | set(image_pulls) if key[0] == registry}
        usage = _usage(registry, images, hosts, image_hosts, image_deployments, image_pulls, top=top)
        usage.cached_by = next(
            (host for host, up in mirrors.items() if _normal_upstream(up) == registry), None
        )
        usage.suggest_cache, usage.reason = _verdict(usage, min_hosts=min_hosts, min_pulls=min_pulls)
        out.append(usage)
    out.sort(key=lambda u: (-u.hosts, -u.pulls, -u.deployments, u.registry))
    return out


def _normal_upstream(name: str) -> str:
    lowered = name.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return DOCKER_HUB if lowered in {"registry-1.docker.io", "index.docker.io", "docker.io"} else lowered


def _usage(
    registry: str,
    images: set[tuple[str, str]],
    hosts: Mapping[str, set[int]],
    image_hosts: Mapping[tuple[str, str], set[int]],
    image_deployments: Counter[tuple[str, str]],
    image_pulls: Counter[tuple[str, str]],
    *,
    top: int,
) -> UpstreamUsage:
    ranked = sorted(
        images,
        key=lambda key: (-len(image_hosts.get(key, ())), -image_pulls[key], -image_deployments[key], key),
    )
    return UpstreamUsage(
        registry=registry,
        hosts=len(hosts.get(registry, ())),
        images=len(images),
        deployments=sum(image_deployments[key] for key in images),
        pulls=sum(image_pulls[key] for key in images),
        top_images=[
            UpstreamImage(
                reference=f"{key[0]}/{key[1]}",
                hosts=len(image_hosts.get(key, ())),
                deployments=image_deployments[key],
                pulls=image_pulls[key],
            )
            for key in ranked[:top]
        ],
        suggest_cache=False,
        reason="",
    )


def _verdict(usage: UpstreamUsage, *, min_hosts: int, min_pulls: int) -> tuple[bool, str]:
    if usage.cached_by:
        return False, f"already cached by {usage.cached_by}"
    if usage.registry == DOCKER_HUB and usage.hosts >= 1:
        return (
            True,
            f"{usage.hosts} hosts pull from Docker Hub, which rate-limits anonymous pulls per address",
        )
    if usage.hosts >= min_hosts:
        return True, f"{usage.hosts} hosts pull the same {usage.images} images; one cache serves them all"
    if usage.pulls >= min_pulls:
        return True, f"{usage.pulls} pulls seen; a cache keeps them local"
    return False, f"only {usage.hosts} host(s) and {usage.pulls} pulls: not worth a cache yet"


def cache_config(
    usage: UpstreamUsage, *, cache_host: str, ttl: str = DEFAULT_TTL, events_url: str | None = None
) -> CacheConfig:
    """distribution config (and, for Docker Hub, daemon.json) for a pull-through cache of one upstream."""
    remote = REMOTE_URLS.get(usage.registry, f"https://{usage.registry}")
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": True}},
        "http": {"addr": f":{cache_host.rsplit(':', 1)[1]}" if ":" in cache_host else ":5000"},
        "proxy": {"remoteurl": remote, "ttl": ttl},
    }
    notes = [
        "Set REGISTRY_PROXY_USERNAME and REGISTRY_PROXY_PASSWORD in the cache's environment to pull as an"
        " account (higher limits, private images); never put them in this file.",
        "A pull-through cache refuses pushes; run it next to, not instead of, your own registry.",
        "ttl is how long cached content is kept; older 2.x releases may not honour it.",
    ]
    if events_url:
        config["notifications"] = regent_notifications(events_url)
        notes.append(f"Add mirrors: {{{cache_host}: {usage.registry}}} to Regent's events config.")
    daemon = None
    rewrites: list[str] = []
    if usage.registry == DOCKER_HUB:
        daemon = json.dumps({"registry-mirrors": [f"https://{cache_host}"]}, indent=2)
        notes.append("registry-mirrors applies to Docker Hub images only; restart dockerd after changing it.")
    else:
        rewrites = [
            f"{image.reference} -> {cache_host}/{image.reference.split('/', 1)[1]}"
            for image in usage.top_images
        ]
        notes.append(
            "Docker's registry-mirrors cannot mirror this upstream: reference images through the cache host,"
            " or configure containerd's hosts.toml on Kubernetes nodes."
        )
    return CacheConfig(
        upstream=usage.registry,
        cache_host=cache_host,
        distribution_config=yaml.safe_dump(config, sort_keys=False),
        docker_daemon_json=daemon,
        image_rewrites=rewrites,
        notes=notes,
    )


def regent_notifications(events_url: str) -> dict[str, object]:
    """distribution's `notifications` section that sends to Regent (the secret stays a placeholder)."""
    endpoint = {
        "name": "regent",
        "url": events_url,
        "headers": {"Authorization": ["Bearer <REGENT_EVENTS_SECRET>"]},
        "timeout": "5s",
        "threshold": 5,
        "backoff": "10s",
        "ignoredmediatypes": ["application/octet-stream"],  # layer events: Regent needs manifests only
    }
    return {"endpoints": [endpoint]}


def advise_caches(
    deployments: Sequence[Deployment],
    pulls: Sequence[RegistryEvent],
    *,
    own_hosts: Iterable[str],
    mirrors: Mapping[str, str],
    cache_domain: str = "registry-cache.internal",
    events_url: str | None = None,
    min_hosts: int = 2,
    min_pulls: int = 100,
) -> CacheAdvice:
    """Ranked upstreams plus a generated cache per suggested upstream (ports 5000, 5001, ...)."""
    upstreams = rank_upstreams(
        deployments, pulls, own_hosts=own_hosts, mirrors=mirrors, min_hosts=min_hosts, min_pulls=min_pulls
    )
    suggested = [u for u in upstreams if u.suggest_cache]
    configs = [
        cache_config(u, cache_host=f"{cache_domain}:{5000 + i}", events_url=events_url)
        for i, u in enumerate(suggested)
    ]
    return CacheAdvice(
        upstreams=upstreams,
        configs=configs,
        environments=len({d.environment_id for d in deployments}),
        deployments_seen=len(deployments),
    )

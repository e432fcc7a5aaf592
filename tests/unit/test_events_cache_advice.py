"""Cache advice on generated fleets with known rankings, and the generated configs."""

from __future__ import annotations

import json

import yaml

from tests.events_factory import event
from tools.events.cache_advice import advise_caches, cache_config, rank_upstreams, upstream_of
from tools.inventory.models import Deployment

OWN = ("registry.example.com:5000",)


def deploy(env: int, image: str, name: str = "c") -> Deployment:
    return Deployment(
        environment_id=env, environment=f"env{env}", kind="container", name=name, image=image, digest=None
    )


def fleet() -> list[Deployment]:
    """nginx on 4 hosts, redis on 2, a ghcr.io tool on 3, quay.io on 1, our own images everywhere."""
    out = [deploy(h, "nginx:1.25") for h in range(1, 5)]
    out += [deploy(h, "docker.io/library/redis:7", "cache") for h in (1, 2)]
    out += [deploy(h, "ghcr.io/acme/agent:2.1", "agent") for h in (1, 2, 3)]
    out += [deploy(h, "ghcr.io/acme/agent@sha256:" + "a" * 64, "agent2") for h in (3,)]
    out += [deploy(5, "quay.io/prometheus/node-exporter:v1.8.0", "ne")]
    out += [deploy(h, f"registry.example.com:5000/shop/api:{h}", "api") for h in range(1, 6)]
    out += [deploy(1, "not a valid ref!!", "broken")]
    return out


def test_upstreams_rank_by_hosts_then_pulls_and_ignore_own_registries() -> None:
    ranked = rank_upstreams(fleet(), [], own_hosts=OWN, mirrors={})
    assert [(u.registry, u.hosts, u.images, u.deployments) for u in ranked] == [
        ("docker.io", 4, 2, 6),
        ("ghcr.io", 3, 1, 4),
        ("quay.io", 1, 1, 1),
    ]
    docker = ranked[0]
    assert [(i.reference, i.hosts) for i in docker.top_images] == [
        ("docker.io/library/nginx", 4),
        ("docker.io/library/redis", 2),
    ]
    assert [u.suggest_cache for u in ranked] == [True, True, False]
    assert "rate-limits" in docker.reason and "not worth" in ranked[2].reason


def test_pulls_through_a_configured_mirror_count_and_mark_it_cached() -> None:
    mirror = "mirror.internal:5000"
    pulls = [event("pull", registry=mirror, repository="library/nginx") for _ in range(30)]
    pulls += [event("pull", registry=mirror, repository="library/alpine") for _ in range(150)]
    pulls += [event("pull", registry="registry.example.com:5000", repository="shop/api") for _ in range(500)]
    ranked = rank_upstreams(fleet(), pulls, own_hosts=OWN, mirrors={mirror: "https://registry-1.docker.io"})
    docker = next(u for u in ranked if u.registry == "docker.io")
    assert (docker.pulls, docker.images, docker.cached_by, docker.suggest_cache) == (180, 3, mirror, False)
    assert [i.reference for i in docker.top_images][:3] == [
        "docker.io/library/nginx",
        "docker.io/library/redis",
        "docker.io/library/alpine",
    ]


def test_pull_volume_alone_can_justify_a_cache() -> None:
    mirror = "quay-cache.internal:5001"
    pulls = [event("pull", registry=mirror, repository="prometheus/node-exporter") for _ in range(120)]
    ranked = rank_upstreams(fleet(), pulls, own_hosts=OWN, mirrors={}, min_pulls=100)
    assert next(u for u in ranked if u.registry == "quay.io").suggest_cache is False  # not a mirror: no pulls
    ranked = rank_upstreams(fleet(), pulls, own_hosts=OWN, mirrors={mirror: "quay.io"}, min_pulls=100)
    quay = next(u for u in ranked if u.registry == "quay.io")
    assert (quay.pulls, quay.cached_by) == (120, mirror)


def test_generated_configs_docker_hub_gets_registry_mirrors_others_get_rewrites() -> None:
    advice = advise_caches(
        fleet(), [], own_hosts=OWN, mirrors={}, events_url="https://regent.example/events/registry"
    )
    assert [c.upstream for c in advice.configs] == ["docker.io", "ghcr.io"]
    hub, ghcr = advice.configs
    config = yaml.safe_load(hub.distribution_config)
    assert config["proxy"] == {"remoteurl": "https://registry-1.docker.io", "ttl": "168h"}
    assert config["http"]["addr"] == ":5000"
    assert "username" not in config["proxy"] and "password" not in config["proxy"]
    [endpoint] = config["notifications"]["endpoints"]
    assert endpoint["url"] == "https://regent.example/events/registry"
    assert endpoint["headers"] == {"Authorization": ["Bearer <REGENT_EVENTS_SECRET>"]}
    assert json.loads(hub.docker_daemon_json or "") == {
        "registry-mirrors": ["https://registry-cache.internal:5000"]
    }
    assert hub.image_rewrites == []
    assert yaml.safe_load(ghcr.distribution_config)["proxy"]["remoteurl"] == "https://ghcr.io"
    assert ghcr.docker_daemon_json is None
    assert ghcr.image_rewrites == ["ghcr.io/acme/agent -> registry-cache.internal:5001/acme/agent"]
    assert (advice.environments, advice.deployments_seen) == (5, len(fleet()))


def test_cache_config_without_events_url_has_no_notifications() -> None:
    usage = rank_upstreams(fleet(), [], own_hosts=OWN, mirrors={})[0]
    config = yaml.safe_load(cache_config(usage, cache_host="cache:6000").distribution_config)
    assert "notifications" not in config and config["http"]["addr"] == ":6000"


def test_upstream_of() -> None:
    assert upstream_of("nginx", own_hosts=()) == ("docker.io", "library/nginx")
    assert upstream_of("ghcr.io/a/b:1", own_hosts=()) == ("ghcr.io", "a/b")
    assert upstream_of("registry.example.com:5000/x:1", own_hosts=OWN) is None
    assert upstream_of("127.0.0.1:5000/x:1", own_hosts=()) is None
    assert upstream_of("Bad Ref", own_hosts=()) is None

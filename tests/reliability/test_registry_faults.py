"""Faults between Regent and the real registry: resets, 5xx, 429 with Retry-After, truncated and slow bodies,
latency. The crawl finishes, a source it could not fully read is marked partial with the reason, and
retries stay bounded (counted at the proxy)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder
from tests.cli import run_regent
from tests.fakes.fault_proxy import FaultProxy
from tools.errors import Unreachable
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.registry.client import RegistryClient

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ATTEMPTS = 4  # RegistryClient's default


def seed_three(seeder: Seeder) -> dict[str, str]:
    """shop/api:1.0, shop/web:1.0, team/db:1.0; returns repository -> digest."""
    out = {}
    for repository in ("shop/api", "shop/web", "team/db"):
        out[repository] = seeder.push_image(ImageSpec(repository=repository, tag="1.0", created=NOW)).digest
    return out


def client_for(url: str, http: httpx.Client, **kwargs: object) -> RegistryClient:
    return RegistryClient(url, http=http, max_retry_wait=2.0, **kwargs)  # type: ignore[arg-type]


def test_crawl_survives_mixed_faults_and_marks_the_failing_repository(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    digests = seed_three(seeder)
    with FaultProxy(registry.url) as proxy:
        proxy.inject(("status", 429, {"Retry-After": "1"}), method="GET", path="/v2/_catalog")
        proxy.always(("status", 503), method="GET", path="/v2/team/db/tags/list")
        proxy.inject(("reset",), method="GET", path="/v2/shop/api/manifests/")
        proxy.inject(("truncate", 10), method="GET", path="/v2/shop/web/manifests/")
        proxy.inject(("status", 500), method="GET", path="/v2/shop/web/blobs/")
        client = client_for(proxy.url, http_client)
        start = time.monotonic()
        inventory = crawl_registry(client, RegistrySource(name="local", url=proxy.url), workers=2)
        elapsed = time.monotonic() - start
        assert proxy.count("GET", "/v2/_catalog") == 2  # one 429, one success
        assert proxy.count("GET", "/v2/team/db/tags/list") == ATTEMPTS  # bounded, then given up
        assert proxy.count("GET", "/v2/shop/api/manifests/") == 2  # reset, retried once
        assert proxy.count("GET", "/v2/shop/web/manifests/") == 2  # truncated body, retried once
        assert proxy.count("GET", "/v2/shop/web/blobs/") == 2
    assert elapsed >= 1.0  # the catalog's Retry-After was honoured
    assert inventory.partial
    assert inventory.tags["shop/api"] == {"1.0": digests["shop/api"]}
    assert inventory.tags["shop/web"] == {"1.0": digests["shop/web"]}
    assert inventory.tags["team/db"] == {}
    assert len(inventory.errors) == 1 and "team/db: tag list failed" in inventory.errors[0]
    assert "503" in inventory.errors[0]


def test_registry_down_is_partial_after_bounded_retries(
    registry: RegistryServer, http_client: httpx.Client
) -> None:
    with FaultProxy(registry.url) as proxy:
        proxy.always(("reset",))
        client = client_for(proxy.url, http_client)
        start = time.monotonic()
        inventory = crawl_registry(client, RegistrySource(name="local", url=proxy.url), workers=2)
        elapsed = time.monotonic() - start
        assert proxy.seen["GET"] == ATTEMPTS
    assert inventory.partial and "catalog failed" in inventory.errors[0]
    assert "unreachable" in inventory.errors[0]
    assert elapsed < 5.0  # exponential backoff 0.2 + 0.4 + 0.8 s, no hang


def test_latency_slows_but_does_not_break_a_crawl(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed_three(seeder)
    with FaultProxy(registry.url) as proxy:
        proxy.always(("delay", 0.2))
        inventory = crawl_registry(
            client_for(proxy.url, http_client), RegistrySource(name="local", url=proxy.url), workers=4
        )
        requests = sum(proxy.seen.values())
    assert not inventory.partial and inventory.tag_count == 3
    assert requests == 1 + 3 + 3 + 3  # catalog, tag lists, manifests, configs: no retry on latency


def test_slow_body_is_cut_off_by_the_overall_deadline(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    with FaultProxy(registry.url) as proxy:
        # Every read gets a byte in time, so only a deadline on the whole response stops the trickle.
        proxy.always(("trickle", 1, 0.05), method="GET", path="/v2/shop/api/manifests/")
        client = client_for(proxy.url, http_client, attempts=2, request_deadline=1.0)
        start = time.monotonic()
        with pytest.raises(Unreachable, match="too slow"):
            client.get_manifest("shop/api", "1.0")
        elapsed = time.monotonic() - start
        assert proxy.count("GET", "/v2/shop/api/manifests/") == 2
    assert elapsed < 4.0


def test_regent_inventory_reports_the_partial_source(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_three(seeder)
    with FaultProxy(registry.url) as proxy:
        proxy.always(("status", 502), method="GET", path="/v2/team/db/")
        done = run_regent("inventory", "--registry", proxy.url, "--json", state=tmp_path)
        assert proxy.count("GET", "/v2/team/db/") == ATTEMPTS
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    (reg,) = out["registries"]
    assert reg["partial"] is True and reg["tags"] == 2
    assert any("team/db" in e and "502" in e for e in out["errors"])
    assert "Traceback" not in done.stderr

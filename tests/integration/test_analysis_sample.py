"""Analysis on the crawled sample registry: bases found from annotations and layer prefixes, the alpine
patch-version spread, shared layers, and a dangling digest that a moved tag left behind."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder, seed_sample
from tools.analysis.findings import find_old_latest, find_stale_images, report_dangling
from tools.analysis.history import build_history
from tools.analysis.layers import detect_base_images, shared_layers, suggest_consolidation
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistrySource
from tools.registry.client import RegistryClient

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_analysis_of_the_sample_registry(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    client = RegistryClient(registry.url, http=http_client)
    source = RegistrySource(name="local", url=registry.url)
    before = crawl_registry(client, source, workers=2)
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.2.0", created=NOW, extra_layer_seed="rebuild"))
    inventory = crawl_registry(client, source, workers=2)

    bases = {(d.repository, d.evidence) for d in detect_base_images(inventory)}
    assert ("shop/web", "annotation") in bases and ("shop/api", "layers") in bases
    families = {c.family: c for c in suggest_consolidation(detect_base_images(inventory))}
    alpine = next(c for f, c in families.items() if "alpine" in f)
    assert {v.version for v in alpine.versions} >= {"3.19.0", "3.19.1"}
    assert shared_layers(inventory).saved_bytes > 0

    stale = find_stale_images(inventory, now=NOW, older_than_days=180)
    assert {"shop/api", "data/etl", "team-x/batch"} <= {i.repository for i in stale.images}
    assert all(i.clock == "created" and i.age_days > 180 for i in stale.images)
    assert any(f.repository == "data/etl" for f in find_old_latest(inventory, now=NOW, older_than_days=180))

    history = build_history(
        inventory, [InventorySnapshot(taken_at=NOW - dt.timedelta(days=3), registries=[before])], now=NOW
    )
    dangling = report_dangling(inventory, history.dangling, now=NOW, manifests=history.manifests)
    assert [(d.repository, d.last_tags) for d in dangling.digests] == [("shop/api", ["1.2.0"])]
    assert dangling.reclaimable_bytes > 24 * 1024, "its own 24 KiB layer goes with it"

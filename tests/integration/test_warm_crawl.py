"""A warm crawl against the real docker-registry: an unchanged tag reuses the previous crawl's parsed
manifest (one HEAD, nothing else); what the previous crawl did not keep is read again, never guessed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from diskcache import Cache

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistryInventory, RegistrySource
from tools.registry.client import RegistryClient

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def crawl(
    registry: RegistryServer,
    http: httpx.Client,
    cache: Cache,
    previous: RegistryInventory | None,
    known: bool,
) -> tuple[RegistryInventory, RegistryClient]:
    client = RegistryClient(registry.url, http=http, cache=cache)
    source = RegistrySource(name="local", url=registry.url)
    inventory = crawl_registry(
        client,
        source,
        previous=previous.tags if previous else None,
        known=previous.manifests if previous and known else None,
    )
    return inventory, client


def seed(seeder: Seeder) -> str:
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    children = [
        ImageSpec(repository="shop/web", tag=None, created=NOW, platform=("linux", arch))
        for arch in ("amd64", "arm64")
    ]
    return seeder.push_index("shop/web", "2.0", children).digest


def test_unchanged_tags_cost_one_head_and_reuse_the_parsed_manifests(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed(seeder)
    with Cache(str(tmp_path / "cache")) as cache:
        cold, _ = crawl(registry, http_client, cache, None, known=True)
        cache.clear()  # nothing in the cache: whatever the warm crawl has, it took from `known`
        warm, client = crawl(registry, http_client, cache, cold, known=True)
    assert dict(client.requests) == {"GET": 3, "HEAD": 2}  # catalog, 2 tag lists; one HEAD per tag
    assert warm.tags == cold.tags and warm.manifests == cold.manifests and not warm.errors
    assert all(warm.manifests[d] is cold.manifests[d] for d in warm.manifests)


def test_an_index_whose_child_was_not_kept_is_read_again(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    index = seed(seeder)
    with Cache(str(tmp_path / "cache")) as cache:
        cold, _ = crawl(registry, http_client, cache, None, known=True)
        lost = cold.manifests[index].children[0].digest
        partial = RegistryInventory(source=cold.source, tags=cold.tags)
        partial.manifests = {d: m for d, m in cold.manifests.items() if d != lost}
        cache.clear()
        warm, client = crawl(registry, http_client, cache, partial, known=True)
    assert warm.manifests == cold.manifests and not warm.errors
    # the index and both children are read again (with the children's configs); shop/api is reused
    assert client.requests["GET"] == 3 + 1 + 2 * 2 and client.requests["HEAD"] == 2


def test_a_moved_tag_is_read_again(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed(seeder)
    with Cache(str(tmp_path / "cache")) as cache:
        cold, _ = crawl(registry, http_client, cache, None, known=True)
        moved = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW, labels={"v": "2"}))
        warm, _ = crawl(registry, http_client, cache, cold, known=True)
    assert warm.tags["shop/api"]["1.0"] == moved.digest != cold.tags["shop/api"]["1.0"]
    assert warm.manifests[moved.digest].labels == {"v": "2"}

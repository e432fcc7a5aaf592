"""Adapters wired in (#13): kind selection from config and Portainer records, native clocks in the crawl.

A test adapter (a NativeRegistry subclass returning fixed times) stands in for a vendor's API; the v2
side is a real docker-registry, so counts, bytes and digests stay real.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from bot.config import Secrets, Settings
from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from bot.sources import build_sources
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tools.errors import AuthError, UpstreamError
from tools.inventory.crawl import crawl_registry
from tools.inventory.inventory import RegistryTarget, run_inventory
from tools.inventory.models import RegistrySource
from tools.inventory.refresh import merge_refresh
from tools.inventory.serialize import snapshot_from_dict, snapshot_to_dict
from tools.inventory.store import SnapshotStore
from tools.privileges.checks import check_registry
from tools.registry.client import RegistryClient
from tools.registry.kinds import select
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PUSHED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
PULLED = dt.datetime(2026, 7, 20, 12, 30, tzinfo=dt.UTC)
API_KEY = "ptr_native-clocks-test-key-01"


class FixedClocks(NativeRegistry):
    """A kind whose API knows push and pull times: fixed ones, except for repositories named `broken/*`."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="quay",
        label="Test kind",
        listing="v2 catalog",
        push_clock="Test pushedAt",
        pull_clock="Test lastPulledAt",
        size="Test sizeBytes",
        delete_path="v2 DELETE by digest",
        gc_step="none",
    )
    built: ClassVar[list[AdapterConfig]] = []

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        FixedClocks.built.append(config)

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        self.calls.append((repository, tuple(digests)))
        if repository.startswith("broken/"):
            raise UpstreamError(f"test API refused {repository}", status=503)
        # naive on purpose: an API answering without a zone is taken as UTC
        return {d: NativeTimes(PUSHED.replace(tzinfo=None), PULLED, 4242) for d in digests}


@pytest.fixture
def adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind with clocks is the test adapter (the real ones are tested by their own modules)."""
    FixedClocks.built.clear()
    for kind in ("quay", "ecr", "gitlab"):
        monkeypatch.setitem(select.ADAPTERS, kind, f"{__name__}:FixedClocks")


def _seed(seeder: Seeder) -> dict[str, str]:
    first = seeder.push_image(ImageSpec("team/app", "1.0", created=NOW, extra_layer_seed="a"))
    seeder.tag("team/app", first.digest, "latest")
    second = seeder.push_image(ImageSpec("team/app", "2.0", created=NOW, extra_layer_seed="b"))
    broken = seeder.push_image(ImageSpec("broken/api", "1", created=NOW, extra_layer_seed="c"))
    return {"first": first.digest, "second": second.digest, "broken": broken.digest}


def test_crawl_asks_the_adapter_once_per_repository_and_keeps_v2_data_on_failure(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, adapters: None
) -> None:
    digests = _seed(seeder)
    client = select.build_registry(AdapterConfig(kind="quay", url=registry.url, http=http_client))
    assert isinstance(client, FixedClocks)
    found = crawl_registry(client, RegistrySource(name="r", url=registry.url, kind="quay"))
    assert sorted(repo for repo, _ in client.calls) == ["broken/api", "team/app"]
    assert dict(client.calls)["team/app"] == tuple(sorted([digests["first"], digests["second"]]))
    assert found.pushed == {digests["first"]: PUSHED, digests["second"]: PUSHED}
    assert found.last_pulled == {digests["first"]: PULLED, digests["second"]: PULLED}
    assert found.native_sizes[digests["first"]] == 4242
    assert (found.push_clock, found.pull_clock) == ("Test pushedAt", "Test lastPulledAt")
    # the failing repository is an error of the crawl, its tags and manifests are still there
    assert found.partial and any("broken/api: native clocks failed" in e for e in found.errors)
    assert found.tags["broken/api"] == {"1": digests["broken"]}
    assert digests["broken"] in found.manifests


def test_plain_v2_crawl_sends_exactly_the_requests_it_did_before(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    _seed(seeder)
    source = RegistrySource(name="r", url=registry.url)
    plain = RegistryClient(registry.url, http=http_client)
    crawl_registry(plain, source, workers=1)  # one worker: two tags of one digest never race
    adapted = select.build_registry(AdapterConfig(kind="custom", url=registry.url, http=http_client))
    found = crawl_registry(adapted, source, workers=1)
    assert adapted.requests == plain.requests
    assert not found.pushed and found.pull_clock is None and not found.errors


def test_clocks_survive_snapshots_and_event_refreshes(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, adapters: None
) -> None:
    digests = _seed(seeder)
    client = select.build_registry(AdapterConfig(kind="quay", url=registry.url, http=http_client))
    source = RegistrySource(name="r", url=registry.url, kind="quay", extra=(("project_id", "7"),))
    snapshot = run_inventory([_target(source, client)], [], now=NOW)
    back = snapshot_from_dict(snapshot_to_dict(snapshot))
    (inventory,) = back.registries
    assert inventory.pushed[digests["first"]] == PUSHED and inventory.pull_clock == "Test lastPulledAt"
    assert inventory.source == source  # `extra` comes back as the same tuple of pairs
    # an event-driven refresh of one repository keeps the other's clocks
    fresh = crawl_registry(client, source, repositories=["broken/api"])
    merged = merge_refresh(inventory, fresh, repositories=["broken/api"])
    assert merged.last_pulled[digests["second"]] == PULLED and merged.pull_clock == "Test lastPulledAt"
    # a snapshot written before native clocks existed still loads, without them
    old = snapshot_to_dict(snapshot)
    for entry in old["registries"]:
        for key in ("pushed", "last_pulled", "native_sizes", "push_clock", "pull_clock"):
            del entry[key]
        for key in ("region", "extra"):
            del entry["source"][key]
    (legacy,) = snapshot_from_dict(old).registries
    assert legacy.pushed == {} and legacy.pull_clock is None and legacy.source.extra == ()


def _target(source: RegistrySource, client: RegistryClient) -> RegistryTarget:
    return RegistryTarget(source=source, client=client)


def test_adapters_are_chosen_from_portainer_records_and_config(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path, adapters: None
) -> None:
    """Portainer's type picks the kind; ECR gets its stored AWS keys and region; GitLab its project."""
    digests = _seed(seeder)
    gitlab = {"Gitlab": {"InstanceURL": "https://gitlab.example.com", "ProjectId": 42, "ProjectPath": "g/p"}}
    records = [
        FakeRegistry(1, "quay", registry.url, type=1),
        FakeRegistry(
            2,
            "aws",
            registry.url.replace("127.0.0.1", "localhost"),
            type=7,
            username="AKIAEXAMPLEKEY",
            password="aws-secret-key",
            ecr_region="eu-west-1",
        ),
        FakeRegistry(3, "lab", "gitlab.test:5050/g/p", type=4, extra=gitlab),
    ]
    portainer = FakePortainer(users=[FakeUser(1, "admin", api_keys=(API_KEY,))], registries=records)
    with portainer:
        settings = Settings.model_validate(
            {
                "portainer": {"url": portainer.url, "registry_scheme": "http"},
                "registries": [
                    {
                        "name": "configured",
                        "url": "127.0.0.2:1",
                        "kind": "harbor",
                        "api_url": "http://h.test/",
                    }
                ],
            }
        )
        sources = build_sources(
            settings,
            Secrets.model_validate({"portainer_api_key": API_KEY}),
            registry_urls=[],
            docker_hosts=[],
            store=SnapshotStore(tmp_path / "s.db"),
            cache_dir=tmp_path / "cache",
        )
        try:
            kinds = {t.source.name: t.source.kind for t in sources.registries}
            quay = next(t for t in sources.registries if t.source.name == "quay")
            snapshot = run_inventory([quay], [], now=NOW)
        finally:
            sources.close()
    assert kinds == {"configured": "harbor", "quay": "quay", "aws": "ecr", "lab": "gitlab"}
    assert not sources.errors
    by_url = {c.url: c for c in FixedClocks.built}
    aws = by_url[registry.url.replace("127.0.0.1", "localhost")]
    assert (aws.kind, aws.username, aws.password, aws.region) == (
        "ecr",
        "AKIAEXAMPLEKEY",
        "aws-secret-key",
        "eu-west-1",
    )
    lab = next(c for c in FixedClocks.built if c.kind == "gitlab")
    assert dict(lab.extra) == {
        "instance_url": "https://gitlab.example.com",
        "project_id": "42",
        "project_path": "g/p",
    }
    (inventory,) = snapshot.registries
    assert inventory.last_pulled[digests["first"]] == PULLED


class NativeListing(FixedClocks):
    """A kind that lists and deletes through its own API; its v2 catalog is never asked."""

    def catalog(self) -> list[str]:
        return ["team/app"]

    def delete_manifest(self, repository: str, digest: str) -> bool:
        raise AssertionError("the doctor must never delete")


def test_doctor_reads_a_native_listing_and_does_not_probe_a_native_delete(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    _seed(seeder)
    client = NativeListing(AdapterConfig(kind="quay", url=registry.url, http=http_client))
    source = RegistrySource(name="n", url=registry.url, kind="quay")
    read, delete = check_registry(source, client, mode="cleanup")
    assert read.level == "ok" and client.requests["GET"] == 1  # /v2/ only: the listing was native
    assert delete.level == "warning" and "deletes go through v2 DELETE by digest" in delete.message
    assert "DELETE" not in client.requests
    plain = select.build_registry(AdapterConfig(kind="custom", url=registry.url, http=http_client))
    _, probed = check_registry(RegistrySource(name="p", url=registry.url), plain, mode="cleanup")
    assert "deletes allowed" in probed.message and plain.requests["DELETE"] == 1


class RefusingKeys(NativeRegistry):
    """A kind whose adapter calls its vendor while being built (as ECR does for its token), and is refused."""

    def __init__(self, config: AdapterConfig) -> None:
        raise AuthError("the vendor refused these keys", status=403)


def test_an_adapter_that_cannot_be_built_costs_only_its_registry(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(seeder)
    monkeypatch.setitem(select.ADAPTERS, "ecr", f"{__name__}:RefusingKeys")
    settings = Settings.model_validate(
        {
            "registries": [
                {"name": "aws", "url": "127.0.0.2:1", "kind": "ecr", "region": "eu-west-1"},
                {"name": "local", "url": registry.url},
            ]
        }
    )
    sources = build_sources(
        settings,
        Secrets.model_validate({}),
        registry_urls=[],
        docker_hosts=[],
        store=SnapshotStore(tmp_path / "s.db"),
        cache_dir=tmp_path / "cache",
    )
    try:
        assert [t.source.name for t in sources.registries] == ["local"]
        assert sources.errors == ["registry aws: the vendor refused these keys"]
    finally:
        sources.close()

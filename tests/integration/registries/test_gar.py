"""GAR (and gcr.io) through its adapter, against the fake GAR host over a real docker-registry.

Every `tags/list` answer the fake gave is checked against the discovery document at the end of each test
(tests/fakes/gar_spec.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.gar import FakeGar
from tests.fakes.gar_spec import errors_against, tag_list_errors
from tests.fakes.portainer_http import json_response
from tests.integration.registries.delete_support import (
    NOW,
    execute_again,
    execute_once,
    push_old_and_new,
    spec,
)
from tools.errors import AuthError, BadResponse, UpstreamError
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.registry.client import RegistryClient
from tools.registry.kinds.base import AdapterConfig, NativeRegistry
from tools.registry.kinds.gar.adapter import GarRegistry
from tools.registry.kinds.select import build_registry, kind_for

POLICY = """
policies:
  - name: gar-cleanup
    repositories: ["**"]
    keep:
      - tags: ["new"]
    delete:
      - all: true
"""


@pytest.fixture
def gar(registry: RegistryServer) -> Iterator[FakeGar]:
    with FakeGar(registry.url).running() as fake:
        yield fake
        problems = [p for body in fake.tag_lists for p in tag_list_errors(body)]
        assert not problems, problems


def adapter_for(fake: FakeGar, http: httpx.Client, *, json_key: bool = False) -> NativeRegistry:
    username, password = (
        ("_json_key", fake.json_key()) if json_key else ("oauth2accesstoken", fake.access_token)
    )
    config = AdapterConfig(
        kind=kind_for(host=fake.host, hint="gar"),
        url=fake.url,
        http=http,
        username=username,
        password=password,
    )
    return build_registry(config)


def test_gar_hosts_are_recognised_from_a_custom_record() -> None:
    assert kind_for(host="europe-west1-docker.pkg.dev") == "gar"
    assert kind_for(host="gcr.io") == "gar"
    assert kind_for(host="eu.gcr.io") == "gar"
    assert kind_for(host="registry.example.com") == "custom"


def test_crawl_reads_counts_bytes_and_upload_times(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client
) -> None:
    old = seeder.push_image(spec("team/app", "old", "old", 300))
    seeder.tag("team/app", old.digest, "old-alias")
    new = seeder.push_image(spec("team/app", "new", "new", 5))
    loose = seeder.push_image(spec("team/app", None, "loose", 200))
    amd = spec("multi", None, "amd", 40)
    index = seeder.push_index(
        "multi", "1", [amd, replace(amd, platform=("linux", "arm64"), extra_layer_seed="arm")]
    )
    uploaded = {
        old.digest: NOW - dt.timedelta(days=290, milliseconds=7),
        new.digest: NOW - dt.timedelta(days=4),
        loose.digest: NOW - dt.timedelta(days=199),
        index.digest: NOW - dt.timedelta(days=39),
    }
    gar.uploaded.update(uploaded)

    client = adapter_for(gar, http_client, json_key=True)
    assert isinstance(client, GarRegistry)
    assert client.capabilities.push_clock == "GAR timeUploadedMs" and client.capabilities.pull_clock is None
    found = crawl_registry(client, RegistrySource(name="gar", url=gar.url, kind="gar"), workers=2)
    expected = seeder.expected()
    assert not found.errors
    assert found.tag_count == expected.tags == 4
    assert len(found.manifests) == expected.manifests
    assert found.stored_bytes() == expected.stored_bytes

    times = client.native_times("team/app", [old.digest, new.digest, loose.digest])
    assert {d: t.pushed for d, t in times.items()} == {d: uploaded[d] for d in times}
    assert set(times) == {old.digest, new.digest, loose.digest}  # untagged ones are in the map too
    for image in (old, new, loose):
        assert times[image.digest].size == image.total_bytes - image.manifest_size
        assert times[image.digest].last_pulled is None  # GAR has no pull clock
    children = [child.digest for child in index.children]
    multi = client.native_times("multi", [index.digest, *children])
    assert multi[index.digest].pushed == uploaded[index.digest]
    assert set(multi) == {index.digest, *children}
    assert multi[index.digest].size == sum(c.total_bytes - c.manifest_size for c in index.children)


def test_a_plain_v2_delete_meets_the_dangling_tag_error(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client
) -> None:
    old = seeder.push_image(spec("team/app", "old", "old", 300))
    plain = RegistryClient(gar.url, http=http_client, username="oauth2accesstoken", password=gar.access_token)
    with pytest.raises(UpstreamError, match=r"400.*GOOGLE_MANIFEST_DANGLING_TAG"):
        plain.delete_manifest("team/app", old.digest)
    assert plain.head_manifest("team/app", old.digest) is not None


def test_delete_plan_removes_tags_first_then_the_digest_once(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    old, new = push_old_and_new(seeder)
    client = adapter_for(gar, http_client)
    source = RegistrySource(name="gar", url=gar.url, kind="gar")
    plan, store, report = execute_once(client, source, POLICY, old, tmp_path)
    assert (report.deleted, report.skipped, report.failed) == (1, 0, 0), report.results
    deletes = [path for method, path in gar.front.seen if method == "DELETE"]
    tag_deletes = [p for p in deletes if p.endswith(("/manifests/old", "/manifests/old-alias"))]
    assert len(set(tag_deletes)) == 2
    assert deletes.index(tag_deletes[-1]) < len(deletes) - 1  # the digest went after its tags
    assert deletes[-1] == f"/v2/team/app/manifests/{old.digest}"
    assert client.head_manifest("team/app", old.digest) is None
    assert sorted(client.list_tags("team/app", fresh=True)) == ["new"]

    execute_again(client, source, POLICY, gar.front, plan, store, old, new)


def test_a_tag_added_during_the_delete_is_removed_and_the_retry_is_bounded(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client
) -> None:
    image = seeder.push_image(spec("team/app", "old", "old", 300))
    client = adapter_for(gar, http_client)
    client.ping()
    dangling = json_response(
        400, {"errors": [{"code": "GOOGLE_MANIFEST_DANGLING_TAG", "message": "still referenced"}]}
    )
    path = f"/v2/team/app/manifests/{image.digest}"
    gar.scripted.append(("DELETE", path, dangling))  # as if a tag arrived between tag and digest delete
    assert client.delete_manifest("team/app", image.digest) is True
    again = seeder.push_image(spec("team/app", "again", "again", 3))
    gar.scripted.extend([("DELETE", f"/v2/team/app/manifests/{again.digest}", dangling)] * 3)
    with pytest.raises(UpstreamError, match="GOOGLE_MANIFEST_DANGLING_TAG"):
        client.delete_manifest("team/app", again.digest)
    assert client.head_manifest("team/app", again.digest) is not None


def test_wrong_credentials_are_a_clear_auth_error(gar: FakeGar, http_client: httpx.Client) -> None:
    config = AdapterConfig(
        kind="gar", url=gar.url, http=http_client, username="oauth2accesstoken", password="expired"
    )
    client = build_registry(config)
    with pytest.raises(AuthError, match="token service rejected the credentials"):
        client.catalog()


def test_malformed_manifest_maps_are_bad_responses(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client
) -> None:
    image = seeder.push_image(spec("team/app", "old", "old", 300))
    client = adapter_for(gar, http_client)
    client.ping()
    entry = {"imageSizeBytes": "10", "mediaType": "x", "tag": [], "timeUploadedMs": "1", "timeCreatedMs": "1"}
    cases = [
        ({"manifest": ["not", "a", "map"]}, "'manifest' is not a map"),
        ({"manifest": {"latest": entry}}, "is not a sha256 digest"),
        ({"manifest": {image.digest: {**entry, "imageSizeBytes": "-3"}}}, "'imageSizeBytes'.*not a count"),
        ({"manifest": {image.digest: {**entry, "timeUploadedMs": "soon"}}}, "'timeUploadedMs'.*not a count"),
        ({"manifest": {image.digest: {**entry, "tag": "old"}}}, "'tag'.*not a list"),
    ]
    for body, message in cases:
        gar.scripted.append(("GET", "/v2/team/app/tags/list", json_response(200, body)))
        with pytest.raises(BadResponse, match=message):
            client.native_times("team/app", [image.digest])


def test_the_spec_checks_themselves_catch_wrong_shapes() -> None:
    digest = "sha256:" + "b" * 64
    entry = {
        "imageSizeBytes": "10",
        "mediaType": "m",
        "tag": ["a"],
        "timeCreatedMs": "0",
        "timeUploadedMs": "5",
    }
    good = {"child": [], "manifest": {digest: entry}, "name": "r", "tags": ["a"]}
    assert tag_list_errors(good) == []
    assert tag_list_errors({**good, "manifest": {digest: {**entry, "imageSizeBytes": 10}}})
    assert tag_list_errors({**good, "manifest": {"latest": entry}})
    assert errors_against("DockerImage", {"imageSizeBytes": "12x"})
    assert errors_against("DockerImage", {"uploadTime": "yesterday"})
    assert errors_against("CleanupPolicy", {"action": "REMOVE"})
    assert errors_against("CleanupPolicy", {"condition": {"olderThan": "30d"}})
    assert errors_against("CleanupPolicy", {"condition": {"olderThan": "2592000s"}}) == []

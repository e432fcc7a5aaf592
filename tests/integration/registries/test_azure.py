"""ACR through its adapter, against the fake ACR (token auth, /acr/v1) over a real docker-registry.

Every native answer the fake gave is checked against the published data-plane spec at the end of each
test (tests/fakes/acr_spec.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.acr import FakeAcr
from tests.fakes.acr_spec import spec_errors
from tests.fakes.portainer_http import Response, json_response
from tests.integration.registries.delete_support import (
    NOW,
    execute_again,
    execute_once,
    push_old_and_new,
    spec,
)
from tools.errors import AuthError, BadResponse, RateLimited
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.portainer.models import REGISTRY_KINDS
from tools.registry.kinds.azure.adapter import AzureRegistry
from tools.registry.kinds.base import AdapterConfig, NativeRegistry
from tools.registry.kinds.select import build_registry, kind_for

POLICY = """
policies:
  - name: acr-cleanup
    repositories: ["**"]
    keep:
      - tags: ["new"]
    delete:
      - all: true
"""


@pytest.fixture
def acr(registry: RegistryServer) -> Iterator[FakeAcr]:
    with FakeAcr(registry.url, page_cap=2).running() as fake:
        yield fake
        problems = [p for a in fake.answers for p in spec_errors(a.operation, a.status, a.body)]
        assert not problems, problems


def adapter_for(fake: FakeAcr, http: httpx.Client, *, password: str | None = None) -> NativeRegistry:
    config = AdapterConfig(
        kind=kind_for(hint=REGISTRY_KINDS[2], host=fake.host),
        url=fake.url,
        http=http,
        username=fake.username,
        password=password or fake.password,
    )
    return build_registry(config)


def test_crawl_reads_counts_bytes_and_acr_clocks(
    acr: FakeAcr, seeder: Seeder, http_client: httpx.Client
) -> None:
    old = seeder.push_image(spec("team/app", "old", "old", 300))
    seeder.tag("team/app", old.digest, "old-alias")
    new = seeder.push_image(spec("team/app", "new", "new", 5))
    untagged = seeder.push_image(spec("team/app", None, "loose", 200))
    web = seeder.push_image(spec("web", "1", "web", 50))
    pushed = {
        old.digest: NOW - dt.timedelta(days=290, microseconds=123456),
        new.digest: NOW - dt.timedelta(days=4),
        untagged.digest: NOW - dt.timedelta(days=199),
        web.digest: NOW - dt.timedelta(days=49),
    }
    acr.created.update(pushed)

    client = adapter_for(acr, http_client)
    assert isinstance(client, AzureRegistry)
    assert client.capabilities.push_clock == "ACR createdTime" and client.capabilities.pull_clock is None
    found = crawl_registry(client, RegistrySource(name="acr", url=acr.url, kind="azure"), workers=2)
    expected = seeder.expected()
    assert not found.errors
    assert found.tag_count == expected.tags == 4
    assert found.stored_bytes() == expected.stored_bytes

    digests = [old.digest, new.digest, untagged.digest]
    listed_before = acr.front.count("GET", "/acr/v1/team/app/_manifests")
    times = client.native_times("team/app", digests)
    assert {d: t.pushed for d, t in times.items()} == {d: pushed[d] for d in digests}
    for image in (old, new, untagged):
        assert times[image.digest].size == image.total_bytes - image.manifest_size
        assert times[image.digest].last_pulled is None  # ACR has no pull clock
    # Three manifests on pages of two: the Link header was followed.
    assert acr.front.count("GET", "/acr/v1/team/app/_manifests") - listed_before == 2
    assert client.native_times("web", [web.digest])[web.digest].pushed == pushed[web.digest]
    # One challenge per scope: the /acr/v1 token is cached under ACR's metadata_read scope, so the second
    # page and the later calls reuse it (and the v2 tokens are not overwritten by it)
    assert sorted(acr.challenged) == sorted(set(acr.challenged))
    assert "repository:team/app:metadata_read" in acr.challenged


def test_delete_plan_removes_tags_through_acr_then_the_digest_once(
    acr: FakeAcr, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    old, new = push_old_and_new(seeder)
    client = adapter_for(acr, http_client)
    source = RegistrySource(name="acr", url=acr.url, kind="azure")
    plan, store, report = execute_once(client, source, POLICY, old, tmp_path)
    assert (report.deleted, report.skipped, report.failed) == (1, 0, 0)
    tag_deletes = [a.status for a in acr.answers if a.operation == "ContainerRegistry_DeleteTag"]
    assert tag_deletes == [202, 202]  # old and old-alias, through /acr/v1
    assert acr.front.count("DELETE", f"/v2/team/app/manifests/{old.digest}") >= 1
    assert acr.front.count("DELETE", "/v2/team/app/manifests/old") == 0  # never a v2 tag delete
    assert client.head_manifest("team/app", old.digest) is None
    assert client.head_manifest("team/app", "new") is not None
    assert sorted(client.list_tags("team/app", fresh=True)) == ["new"]

    execute_again(client, source, POLICY, acr.front, plan, store, old, new)


def test_v2_tag_delete_is_refused_like_acr(acr: FakeAcr, seeder: Seeder, http_client: httpx.Client) -> None:
    """What the plain v2 path would do with a tag: ACR refuses it, which is why the adapter uses /acr/v1."""
    seeder.push_image(spec("team/app", "old", "old", 300))
    token = http_client.get(
        f"{acr.url}/oauth2/token",
        params={"service": acr.host, "scope": "repository:team/app:delete"},
        auth=(acr.username, acr.password),
    ).json()["access_token"]
    answer = http_client.delete(
        f"{acr.url}/v2/team/app/manifests/old", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 405 and answer.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_wrong_password_is_a_clear_auth_error(acr: FakeAcr, http_client: httpx.Client) -> None:
    client = adapter_for(acr, http_client, password="wrong")
    with pytest.raises(AuthError, match="token service rejected the credentials"):
        client.catalog()
    found = crawl_registry(client, RegistrySource(name="acr", url=acr.url, kind="azure"))
    assert found.partial and "catalog failed" in found.errors[0]


def test_malformed_acr_answers_are_bad_responses(
    acr: FakeAcr, seeder: Seeder, http_client: httpx.Client
) -> None:
    image = seeder.push_image(spec("team/app", "old", "old", 300))
    client = adapter_for(acr, http_client)
    client.ping()
    cases = [
        ({"manifests": [{"digest": "sha256:nope"}]}, "'digest' is not a sha256 digest"),
        ({"manifests": "all of them"}, "'manifests' is not a list"),
        (
            {"manifests": [{"digest": image.digest, "createdTime": "yesterday", "lastUpdateTime": "x"}]},
            "'createdTime' is not a date-time",
        ),
        ({"manifests": [{"digest": image.digest, "imageSize": -1}]}, "'imageSize' is not a byte count"),
    ]
    for body, message in cases:
        # the token for this scope is already held after the first call; the scripted answer replaces ACR's
        acr.scripted.append(("/acr/v1/team/app/_manifests", json_response(200, body)))
        with pytest.raises(BadResponse, match=message):
            client.native_times("team/app", [image.digest])
    acr.scripted.append(("/acr/v1/team/app/_manifests", Response(200, b"<html>", {})))
    with pytest.raises(BadResponse, match="not valid JSON"):
        client.native_times("team/app", [image.digest])


def test_throttling_waits_for_retry_after_and_gives_up_bounded(
    acr: FakeAcr, seeder: Seeder, http_client: httpx.Client
) -> None:
    image = seeder.push_image(spec("team/app", "old", "old", 300))
    acr.created[image.digest] = NOW
    client = adapter_for(acr, http_client)
    client.ping()
    throttled = json_response(429, {"errors": [{"code": "TOOMANYREQUESTS"}]}, {"Retry-After": "1"})
    acr.scripted.append(("/acr/v1/team/app/_manifests", throttled))
    started = time.monotonic()
    assert client.native_times("team/app", [image.digest])[image.digest].pushed == NOW
    assert time.monotonic() - started >= 0.9  # Retry-After honoured, not hammered
    before = acr.front.count("GET", "/acr/v1/team/app/_manifests")
    acr.scripted.extend([("/acr/v1/team/app/_manifests", throttled)] * 4)
    with pytest.raises(RateLimited, match="429"):
        client.native_times("team/app", [image.digest])
    assert acr.front.count("GET", "/acr/v1/team/app/_manifests") - before == 4  # bounded attempts


def test_the_spec_check_itself_catches_wrong_answers() -> None:
    good = {"digest": "sha256:" + "a" * 64, "createdTime": "2026-01-01T00:00:00.0000000Z"}
    ok = {"manifests": [{**good, "lastUpdateTime": good["createdTime"], "imageSize": 3}]}
    assert spec_errors("ContainerRegistry_GetManifests", 200, ok) == []
    missing = spec_errors("ContainerRegistry_GetManifests", 200, {"manifests": [good]})
    assert any("lastUpdateTime" in problem for problem in missing)
    wrong_type = {"manifests": [{**ok["manifests"][0], "imageSize": "3"}]}
    assert spec_errors("ContainerRegistry_GetManifests", 200, wrong_type)
    bad_time = {"manifests": [{**ok["manifests"][0], "createdTime": "yesterday"}]}
    assert spec_errors("ContainerRegistry_GetManifests", 200, bad_time)
    assert spec_errors("ContainerRegistry_DeleteTag", 202, {"surprise": True})

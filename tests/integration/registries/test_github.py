"""GHCR through its adapter (#13): listing and clocks from GitHub's packages API, deletes through it too.

The fake (tests/fakes/github.py) answers GitHub's REST routes, validated here against GitHub's published
spec, and passes v2 through to a real docker-registry, so digests, sizes and deletes are real.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_core import OpenAPI

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.github import FakeGithub
from tests.fakes.portainer_http import Response, json_response
from tests.fakes.spec_exchanges import validate_exchanges
from tools.changes.retention import execute_plan
from tools.errors import AuthError, BadResponse, ConfigError, NotFound
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.registry.kinds.base import AdapterConfig, NativeTimes
from tools.registry.kinds.github.adapter import GithubRegistry
from tools.registry.kinds.select import build_registry

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SPEC = Path(__file__).parents[2] / "fakes" / "specs" / "github-rest-packages.trimmed.json"
TOKEN = "ghp_test_token_123"
DROP_OLD = """
policies:
  - name: drop-old
    repositories: ["acme/**"]
    tags: ["old-*"]
    delete:
      - all: true
"""


@pytest.fixture
def front(registry: RegistryServer) -> Iterator[FakeGithub]:
    with FakeGithub(registry.url, owner="acme", token=TOKEN) as fake:
        yield fake
    assert validate_exchanges(OpenAPI.from_path(SPEC), "https://api.github.com", fake.state.exchanges) > 0


def adapter_for(front: FakeGithub, http: httpx.Client, **extra: str) -> GithubRegistry:
    config = AdapterConfig(
        kind="github",
        url=front.url,
        http=http,
        username="acme-bot",
        password=TOKEN,
        extra=extra or {"organisation": "acme"},
    )
    client = build_registry(config)
    assert isinstance(client, GithubRegistry)
    return client


def seed(seeder: Seeder, front: FakeGithub) -> dict[str, str]:
    """Three packages; `api` has a digest under two tags and an untagged version."""
    digests: dict[str, str] = {}
    for package, tag, days in (
        ("api", "1.0", 300),
        ("api", "old-1", 200),
        ("web", "2.0", 10),
        ("job", "old-x", 90),
    ):
        pushed = seeder.push_image(
            ImageSpec(
                repository=f"acme/{package}",
                tag=tag,
                created=NOW - dt.timedelta(days=days + 5),
                extra_layer_seed=f"{package}{tag}",
            )
        )
        front.add_version(package, pushed.digest, NOW - dt.timedelta(days=days))
        digests[f"{package}:{tag}"] = pushed.digest
    seeder.tag("acme/api", digests["api:1.0"], "latest")
    untagged = seeder.push_image(
        ImageSpec(repository="acme/api", tag=None, created=NOW, extra_layer_seed="u")
    )
    front.add_version("api", untagged.digest, NOW - dt.timedelta(days=1))
    digests["api:untagged"] = untagged.digest
    return digests


def test_crawl_lists_packages_natively_with_push_clocks(
    front: FakeGithub, seeder: Seeder, http_client: httpx.Client
) -> None:
    digests = seed(seeder, front)
    front.page_cap = 2  # three packages, two per page: the Link header has to be followed
    client = adapter_for(front, http_client)
    assert client.catalog() == ["acme/api", "acme/job", "acme/web"]
    found = crawl_registry(client, RegistrySource(name="ghcr", url=front.url, kind="github"))
    expected = seeder.expected()
    assert not found.errors
    assert found.tag_count == expected.tags == 5
    assert found.stored_bytes() == expected.stored_bytes
    assert found.tags["acme/api"] == {
        "1.0": digests["api:1.0"],
        "latest": digests["api:1.0"],
        "old-1": digests["api:old-1"],
    }
    times = client.native_times(
        "acme/api", [digests["api:1.0"], digests["api:old-1"], digests["api:untagged"]]
    )
    assert times == {
        digests["api:1.0"]: NativeTimes(pushed=NOW - dt.timedelta(days=300)),
        digests["api:old-1"]: NativeTimes(pushed=NOW - dt.timedelta(days=200)),
        digests["api:untagged"]: NativeTimes(pushed=NOW - dt.timedelta(days=1)),
    }
    assert found.push_clock == "GHCR version created_at" and found.pull_clock is None
    assert found.pushed == {
        digests["api:1.0"]: NOW - dt.timedelta(days=300),
        digests["api:old-1"]: NOW - dt.timedelta(days=200),
        digests["web:2.0"]: NOW - dt.timedelta(days=10),
        digests["job:old-x"]: NOW - dt.timedelta(days=90),
    }, "the crawl keeps each tagged digest's version created_at"
    assert found.last_pulled == {} and found.native_sizes == {}
    assert front.count("GET", "/v2/_catalog") == 0, "GHCR has no catalog: never asked"
    assert GithubRegistry.capabilities.push_clock == "GHCR version created_at"
    assert GithubRegistry.capabilities.pull_clock is None


def test_delete_plan_runs_through_the_rest_api_once(
    front: FakeGithub, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    digests = seed(seeder, front)
    second = seeder.push_image(
        ImageSpec(repository="acme/api", tag="old-2", created=NOW, extra_layer_seed="2")
    )
    front.add_version("api", second.digest, NOW - dt.timedelta(days=150))
    build = seeder.push_image(ImageSpec(repository="acme/job", tag=None, created=NOW, extra_layer_seed="b"))
    front.add_version("job", build.digest, NOW)  # GitHub keeps a package's last version (test below)
    client = adapter_for(front, http_client)
    source = RegistrySource(name="ghcr", url=front.url, kind="github")
    plan = evaluate_policies(
        parse_policies(DROP_OLD), registries=[crawl_registry(client, source)], deployments=[], now=NOW
    )
    assert {item.digest for item in plan.items} == {digests["api:old-1"], second.digest, digests["job:old-x"]}
    store = PlanStore(tmp_path / "state.db")
    store.save(plan)
    listings = front.count("GET", "/orgs/acme/packages/container/api/versions")
    report = execute_plan(plan.plan_id, store=store, clients={"ghcr": client}, current_deployments=list)
    assert report.deleted == 3 and report.failed == 0
    assert front.count("GET", "/orgs/acme/packages/container/api/versions") == listings + 1, "ids read once"
    assert front.count("DELETE", "/orgs/acme/packages/container/") == 3
    assert front.count("DELETE", "/v2/") == 0, "the v2 DELETE GHCR refuses is never tried"
    assert client.requests["DELETE"] == 3, "REST requests count with the v2 ones"
    assert client.head_manifest("acme/api", digests["api:old-1"]) is None
    assert client.head_manifest("acme/api", "1.0") is not None, "the kept tags stay"
    assert not client.delete_manifest("acme/job", digests["job:old-x"]), "already gone: False"

    again = evaluate_policies(
        parse_policies(DROP_OLD), registries=[crawl_registry(client, source)], deployments=[], now=NOW
    )
    assert again.items == [] and front.count("DELETE", "/orgs/") == 3, "a second run deletes nothing"


def test_user_owner_throttling_and_errors_are_clear(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    with FakeGithub(registry.url, owner="octo", organisation=False, token=TOKEN) as front:
        pushed = seeder.push_image(ImageSpec(repository="octo/tool", tag="1", created=NOW))
        front.add_version("tool", pushed.digest, NOW)
        client = adapter_for(front, http_client, owner="octo")
        front.queued.append(json_response(429, {"message": "slow down"}, {"Retry-After": "1"}))
        assert client.catalog() == ["octo/tool"], "a 429 with Retry-After is waited out, then retried"
        assert front.count("GET", "/users/octo/packages") == 2
        secondary = {"Retry-After": "1", "x-ratelimit-remaining": "4000"}
        front.queued.append(
            json_response(403, {"message": "You have exceeded a secondary rate limit"}, secondary)
        )
        assert client.catalog() == ["octo/tool"], (
            "GitHub's secondary rate limit (403 + Retry-After) waited out"
        )

        front.queued.append(Response(200, b"<html>oops</html>", {"Content-Type": "text/html"}))
        with pytest.raises(BadResponse, match="not JSON"):
            client.catalog()
        front.queued.append(json_response(200, [{"id": 1, "name": "tool", "metadata": {}}]))
        with pytest.raises(BadResponse, match="digest"):
            client.native_times("octo/tool", [pushed.digest])
        with pytest.raises(NotFound, match="not a package of GitHub owner octo"):
            client.native_times("other/tool", [pushed.digest])

        wrong = AdapterConfig(
            kind="github", url=front.url, http=http_client, username="octo", password="nope"
        )
        with pytest.raises(AuthError, match=r"401.*Bad credentials") as caught:
            build_registry(wrong).catalog()
        assert "nope" not in str(caught.value)
        validate_exchanges(OpenAPI.from_path(SPEC), "https://api.github.com", front.state.exchanges)
    no_owner = build_registry(AdapterConfig(kind="github", url=front.url, http=http_client, password=TOKEN))
    with pytest.raises(ConfigError, match="no owner"):
        no_owner.catalog()  # reported when used: the other registries are still read
    no_token = AdapterConfig(kind="github", url=front.url, http=http_client, extra={"organisation": "acme"})
    with pytest.raises(ConfigError, match="personal access token"):
        build_registry(no_token).native_times("acme/api", [])


def test_the_spec_check_catches_a_drifting_fake() -> None:
    """The validation the fixture runs is real: a version without `name` or `url` fails it."""
    from openapi_core.validation.response.exceptions import InvalidData

    from tests.fakes.spec_exchanges import Exchange

    bad = Exchange(
        "GET",
        "/orgs/acme/packages/container/api/versions",
        "",
        200,
        {"Content-Type": "application/json"},
        json.dumps([{"id": 1}]).encode(),
    )
    with pytest.raises(InvalidData):
        validate_exchanges(OpenAPI.from_path(SPEC), "https://api.github.com", [bad])


def test_the_last_version_of_a_package_is_refused_and_reported(
    front: FakeGithub, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    """GitHub keeps a package's only version: the item fails with GitHub's reason, the image stays."""
    only = seeder.push_image(
        ImageSpec(repository="acme/solo", tag="old-1", created=NOW, extra_layer_seed="s")
    )
    front.add_version("solo", only.digest, NOW - dt.timedelta(days=400))
    client = adapter_for(front, http_client)
    source = RegistrySource(name="ghcr", url=front.url, kind="github")
    plan = evaluate_policies(
        parse_policies(DROP_OLD), registries=[crawl_registry(client, source)], deployments=[], now=NOW
    )
    store = PlanStore(tmp_path / "state.db")
    store.save(plan)
    report = execute_plan(plan.plan_id, store=store, clients={"ghcr": client}, current_deployments=list)
    (result,) = report.results
    assert result.status == "failed" and report.deleted == 0
    assert "400" in result.reason and "must delete the package instead" in result.reason
    assert client.head_manifest("acme/solo", only.digest) is not None

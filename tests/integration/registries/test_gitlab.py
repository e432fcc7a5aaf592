"""GitLab's container registry through its adapter (#13): project repositories, tag clocks and sizes from
GitLab's REST API, deletes tag by tag through it and then by digest over v2.

The fake (tests/fakes/gitlab.py) answers GitLab's REST routes, validated here against GitLab's published
OpenAPI description, and passes v2 through to a real docker-registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from openapi_core import OpenAPI

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.gitlab import FakeGitlab
from tests.fakes.portainer_http import Response, json_response
from tests.fakes.spec_exchanges import swagger2_to_openapi3, validate_exchanges
from tools.changes.retention import execute_plan
from tools.errors import AuthError, BadResponse, ConfigError, NotFound, RateLimited
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.registry.kinds.base import AdapterConfig, NativeTimes
from tools.registry.kinds.gitlab.adapter import GitlabRegistry
from tools.registry.kinds.select import build_registry

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SPEC = Path(__file__).parents[2] / "fakes" / "specs" / "gitlab-openapi-v2-registry.trimmed.yaml"
TOKEN = "glpat-test-token-123"
DROP_OLD = """
policies:
  - name: drop-old
    repositories: ["grp/shop/**", "grp/shop"]
    tags: ["old-*"]
    delete:
      - all: true
"""


def gitlab_spec() -> OpenAPI:
    """GitLab's trimmed Swagger 2.0, as OpenAPI 3.0 for openapi-core."""
    return OpenAPI.from_dict(swagger2_to_openapi3(yaml.safe_load(SPEC.read_text())))


@pytest.fixture
def front(registry: RegistryServer) -> Iterator[FakeGitlab]:
    with FakeGitlab(registry.url, project_id=42, project_path="grp/shop", token=TOKEN) as fake:
        yield fake
    assert validate_exchanges(gitlab_spec(), "https://gitlab.com", fake.state.exchanges) > 0


def adapter_for(front: FakeGitlab, http: httpx.Client, **extra: str) -> GitlabRegistry:
    config = AdapterConfig(
        kind="gitlab",
        url=front.url,
        http=http,
        username="ci-bot",
        password=TOKEN,
        extra=extra or {"instance_url": front.url, "project_id": "42", "project_path": "grp/shop"},
    )
    client = build_registry(config)
    assert isinstance(client, GitlabRegistry)
    return client


def image(repository: str, tag: str | None, seed: str, days: int) -> ImageSpec:
    return ImageSpec(
        repository=repository, tag=tag, created=NOW - dt.timedelta(days=days), extra_layer_seed=seed
    )


def seed(seeder: Seeder, front: FakeGitlab) -> dict[str, str]:
    """Two repositories; one digest under two old tags, one under a kept and an old tag."""
    front.add_repository("grp/shop")
    front.add_repository("grp/shop/api")
    root_old = seeder.push_image(image("grp/shop", "old-1", "a", 400))
    seeder.tag("grp/shop", root_old.digest, "old-2")
    root_new = seeder.push_image(image("grp/shop", "2.0", "b", 5))
    api_kept = seeder.push_image(image("grp/shop/api", "1.0", "c", 300))
    seeder.tag("grp/shop/api", api_kept.digest, "old-keep")
    api_old = seeder.push_image(image("grp/shop/api", "old-x", "d", 200))
    front.state.pushed[root_old.digest] = NOW - dt.timedelta(days=100)  # pushed long after it was built
    return {
        "root_old": root_old.digest,
        "root_new": root_new.digest,
        "api_kept": api_kept.digest,
        "api_old": api_old.digest,
    }


def test_crawl_lists_project_repositories_with_tag_clocks_and_sizes(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client
) -> None:
    digests = seed(seeder, front)
    front.page_cap = 1  # every list is paged one item at a time: X-Next-Page must be followed
    client = adapter_for(front, http_client)
    assert client.catalog() == ["grp/shop", "grp/shop/api"]
    found = crawl_registry(client, RegistrySource(name="gitlab", url=front.url, kind="gitlab"))
    expected = seeder.expected()
    assert not found.errors
    assert found.tag_count == expected.tags == 6
    assert found.stored_bytes() == expected.stored_bytes
    layers = {d: sum(layer.size for layer in manifest.layers) for d, manifest in found.manifests.items()}
    times = client.native_times("grp/shop", [digests["root_old"], digests["root_new"]])
    assert times == {
        digests["root_old"]: NativeTimes(
            pushed=NOW - dt.timedelta(days=100), size=layers[digests["root_old"]]
        ),
        digests["root_new"]: NativeTimes(pushed=NOW - dt.timedelta(days=5), size=layers[digests["root_new"]]),
    }, "GitLab's created_at: the registry's record when it has one, else the config's created"
    assert found.push_clock == "GitLab tag created_at" and found.pull_clock is None
    assert found.pushed[digests["root_old"]] == NOW - dt.timedelta(days=100)
    assert found.pushed[digests["api_kept"]] == NOW - dt.timedelta(days=300), "the config's created"
    assert found.native_sizes == {d: layers[d] for d in digests.values()}
    assert found.last_pulled == {}
    assert front.count("GET", "/v2/_catalog") == 0
    assert GitlabRegistry.capabilities.pull_clock is None
    assert GitlabRegistry.capabilities.export == "gitlab-cleanup"


def test_delete_plan_removes_tags_through_gitlab_then_the_manifest(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    digests = seed(seeder, front)
    digests["api_old_y"] = seeder.push_image(image("grp/shop/api", "old-y", "e", 250)).digest
    client = adapter_for(front, http_client, instance_url=front.url, project_path="grp/shop")
    source = RegistrySource(name="gitlab", url=front.url, kind="gitlab")
    plan = evaluate_policies(
        parse_policies(DROP_OLD), registries=[crawl_registry(client, source)], deployments=[], now=NOW
    )
    assert {item.digest for item in plan.items} == {
        digests["root_old"],
        digests["api_old"],
        digests["api_old_y"],
    }
    store = PlanStore(tmp_path / "state.db")
    store.save(plan)
    details = front.count("GET", "/api/v4/projects/grp%2Fshop/registry/repositories/101/tags/")
    report = execute_plan(plan.plan_id, store=store, clients={"gitlab": client}, current_deployments=list)
    assert report.deleted == 3 and report.failed == 0
    api_details = front.count("GET", "/api/v4/projects/grp%2Fshop/registry/repositories/101/tags/") - details
    assert api_details == 4, "grp/shop/api's four tag details read once for its two deletes"
    assert front.count("DELETE", "/api/v4/projects/grp%2Fshop/registry/repositories/") == 4, (
        "old-1, old-2, old-x, old-y"
    )
    assert front.count("DELETE", "/v2/") == 3, "then each manifest by digest, once"
    assert client.requests["DELETE"] == 7, "REST requests count with the v2 ones"
    for repository, digest in (
        ("grp/shop", digests["root_old"]),
        ("grp/shop/api", digests["api_old"]),
        ("grp/shop/api", digests["api_old_y"]),
    ):
        assert client.head_manifest(repository, digest) is None, "the manifest went after its tags"
    assert client.head_manifest("grp/shop/api", "old-keep") is not None, "a kept digest keeps all its tags"
    assert not client.delete_manifest("grp/shop", digests["root_old"]), "already gone: False"

    again = evaluate_policies(
        parse_policies(DROP_OLD), registries=[crawl_registry(client, source)], deployments=[], now=NOW
    )
    assert again.items == [], "a second run deletes nothing"


def test_throttling_bad_answers_and_bad_config_are_clear(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed(seeder, front)
    client = adapter_for(front, http_client)
    front.queued.append(json_response(429, {"message": "Retry later"}, {"Retry-After": "1"}))
    assert client.catalog() == ["grp/shop", "grp/shop/api"], "a 429 with Retry-After is waited out"
    before = front.count("GET", "/api/v4/")
    front.queued.extend([json_response(429, {"message": "Retry later"}, {"Retry-After": "0"})] * 5)
    with pytest.raises(RateLimited, match="rate limited"):
        client.catalog()
    assert front.count("GET", "/api/v4/") - before == 4, "bounded: four attempts, then a clear error"
    front.queued.clear()
    front.queued.append(Response(502, b"Bad Gateway", {"Content-Type": "text/plain"}))
    assert client.catalog() == ["grp/shop", "grp/shop/api"], "a 5xx is retried"
    front.queued.append(json_response(200, {"not": "a list"}))
    with pytest.raises(BadResponse, match="not a list"):
        client.catalog()
    front.queued.extend(
        [json_response(200, [{"name": "v1"}]), json_response(200, {"name": "v1", "digest": "x"})]
    )
    with pytest.raises(BadResponse, match="sha256 digest"):
        client.native_times("grp/shop", [])
    with pytest.raises(NotFound, match="not a container repository of GitLab project 42"):
        client.native_times("grp/other", [])
    wrong = AdapterConfig(
        kind="gitlab", url=front.url, http=http_client, password="nope", extra={"project_id": "42"}
    )
    with pytest.raises(AuthError, match="401") as caught:
        build_registry(wrong).catalog()
    assert "nope" not in str(caught.value)
    no_project = AdapterConfig(kind="gitlab", url=front.url, http=http_client, password=TOKEN)
    with pytest.raises(ConfigError, match="no project"):
        build_registry(no_project).catalog()  # reported when used: the other registries are still read
    bad_id = AdapterConfig(
        kind="gitlab", url=front.url, http=http_client, password=TOKEN, extra={"project_id": "x"}
    )
    with pytest.raises(ConfigError, match="not a number"):
        build_registry(bad_id).catalog()


def test_a_public_project_is_read_without_a_token_but_not_changed(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client
) -> None:
    digests = seed(seeder, front)
    front.public = True
    config = AdapterConfig(kind="gitlab", url=front.url, http=http_client, extra={"project_path": "grp/shop"})
    client = build_registry(config)
    assert client.catalog() == ["grp/shop", "grp/shop/api"]
    assert client.native_times("grp/shop/api", [digests["api_old"]])[digests["api_old"]].pushed is not None
    with pytest.raises(AuthError, match="401"):
        client.delete_manifest("grp/shop/api", digests["api_old"])
    assert client.head_manifest("grp/shop/api", digests["api_old"]) is not None


def test_clocks_of_several_repositories_at_once_list_the_project_once(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client
) -> None:
    """A refresh asks for named repositories without a catalog first, from several threads."""
    digests = seed(seeder, front)
    client = adapter_for(front, http_client)
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(
            pool.map(
                lambda repo: client.native_times(repo, digests.values()), ["grp/shop", "grp/shop/api"] * 2
            )
        )
    assert {d for times in found for d in times} == set(digests.values())
    assert front.count("GET", "/api/v4/projects/42/registry/repositories?") == 1


def test_a_tag_moved_after_the_tags_were_read_is_not_deleted(
    front: FakeGitlab, seeder: Seeder, http_client: httpx.Client
) -> None:
    digests = seed(seeder, front)
    client = adapter_for(front, http_client)
    assert client.delete_manifest("grp/shop/api", digests["api_old"])  # reads grp/shop/api's tags once
    moved = seeder.push_image(image("grp/shop/api", "old-keep", "moved", 1))  # old-keep leaves api_kept
    assert client.delete_manifest("grp/shop/api", digests["api_kept"])
    assert front.count("DELETE", "/api/v4/projects/42/registry/repositories/101/tags/old-keep") == 0
    head = client.head_manifest("grp/shop/api", "old-keep")
    assert head is not None and head.digest == moved.digest, "the moved tag stays on its new image"
    assert client.head_manifest("grp/shop/api", digests["api_kept"]) is None

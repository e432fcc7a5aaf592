"""Harbor through its own API: a fake `/api/v2.0` (checked against Harbor's swagger) in front of a real
docker-registry, driven by the real adapter, crawler, planner and executor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import PushedImage, PushedIndex, Seeder
from tests.fakes.harbor import FakeHarbor
from tests.fakes.registry_front import RegistryFront
from tests.fakes.swagger2 import SwaggerCheck
from tests.integration.registries.delete_support import NOW, push_two_platform_index, save_and_execute, spec
from tools.changes.retention import execute_plan
from tools.errors import AuthError, BadResponse, RegentError, UpstreamError
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.harbor.adapter import HarborRegistry
from tools.registry.kinds.harbor.client import is_harbor
from tools.registry.kinds.select import build_registry

pytestmark = pytest.mark.real

USER, PASSWORD = "robot$regent", "harbor-secret"


@dataclass
class Seeded:
    """What the scenario pushed."""

    app_v1: PushedImage  # team/app:1.0 and :latest
    app_v2: PushedImage  # team/app:2.0
    cli: PushedImage  # team/tools/cli:1.0 (a nested repository)
    base: PushedIndex  # lib/base:3.1, two platforms


def seed(seeder: Seeder) -> Seeded:
    app_v1 = seeder.push_image(spec("team/app", "1.0", "v1", 100))
    seeder.tag("team/app", app_v1.digest, "latest")
    return Seeded(
        app_v1=app_v1,
        app_v2=seeder.push_image(spec("team/app", "2.0", "v2", 60)),
        cli=seeder.push_image(spec("team/tools/cli", "1.0", "cli", 90)),
        base=push_two_platform_index(seeder, "lib/base", "3.1", 50),
    )


@pytest.fixture
def harbor(registry: RegistryServer) -> Iterator[tuple[FakeHarbor, RegistryFront]]:
    fake = FakeHarbor(registry.url, projects=["team", "lib", "empty"], page_cap=1, now=NOW)
    with RegistryFront(registry.url, fake.route) as front:
        yield fake, front
    assert fake.check.problems == [], fake.check.problems  # every answer fits Harbor's swagger


def adapter_for(front: RegistryFront, http: httpx.Client, password: str = PASSWORD) -> HarborRegistry:
    config = AdapterConfig(kind="harbor", url=front.url, http=http, username=USER, password=password)
    adapter = build_registry(config)
    assert isinstance(adapter, HarborRegistry)
    return adapter


def test_crawl_lists_through_projects_and_reports_exact_counts_bytes_and_clocks(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = harbor
    pushed = seed(seeder)
    fake.pushed |= {
        pushed.app_v1.digest: NOW - dt.timedelta(days=99),
        pushed.base.digest: NOW - dt.timedelta(days=40),
    }
    fake.pulled |= {pushed.app_v1.digest: NOW - dt.timedelta(days=2)}
    adapter = adapter_for(front, http_client)
    assert adapter.catalog() == ["lib/base", "team/app", "team/tools/cli"]  # "empty" has none
    inventory = crawl_registry(
        adapter, RegistrySource(name="harbor", url=front.url, kind="harbor"), workers=2
    )
    assert not inventory.errors and not inventory.partial
    assert fake.check.checked >= 8  # the answers were checked against the swagger (fixture teardown)
    assert front.count("GET", "/v2/_catalog") == 0  # Harbor's v2 catalog is for admins only
    assert front.count("GET", "/api/v2.0/projects?") >= 3  # one project per page: paging followed
    expected = seeder.expected()
    assert inventory.tag_count == expected.tags == 5
    assert inventory.stored_bytes() == expected.stored_bytes
    # the clocks, with Harbor's names; never pulled (the zero time) is no pull time at all
    assert (inventory.push_clock, inventory.pull_clock) == ("Harbor push_time", "Harbor pull_time")
    assert inventory.pushed[pushed.app_v1.digest] == NOW - dt.timedelta(days=99)
    assert inventory.pushed[pushed.app_v2.digest] == NOW  # the fake's default push time
    assert inventory.last_pulled == {pushed.app_v1.digest: NOW - dt.timedelta(days=2)}
    for child in pushed.base.children:  # an index's children take its push time, not a size
        assert inventory.pushed[child.digest] == NOW - dt.timedelta(days=40)
        assert child.digest not in inventory.native_sizes
    # sizes as Harbor reports them: manifest + config + layers; the index adds its children
    assert inventory.native_sizes[pushed.cli.digest] == pushed.cli.total_bytes
    assert inventory.native_sizes[pushed.base.digest] == pushed.base.size + sum(
        c.total_bytes for c in pushed.base.children
    )


def test_a_nested_repository_is_encoded_twice(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    _, front = harbor
    cli = seed(seeder).cli
    adapter = adapter_for(front, http_client)
    times = adapter.native_times("team/tools/cli", [cli.digest])
    assert set(times) == {cli.digest}
    assert front.count("GET", "/api/v2.0/projects/team/repositories/tools%252Fcli/artifacts") == 1
    single = httpx.get(
        f"{front.url}/api/v2.0/projects/team/repositories/tools%2Fcli/artifacts", auth=(USER, PASSWORD)
    )
    assert single.status_code == 404  # encoded once, Harbor does not find it


def test_a_plan_deletes_through_the_artifact_api_and_a_second_run_deletes_nothing(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    fake, front = harbor
    pushed = seed(seeder)
    policies = parse_policies(
        """
policies:
  - name: tidy
    repositories: ["team/**"]
    keep: [{tags: ["latest"]}]
    delete: [{older_than_days: 30}]
"""
    )
    adapter = adapter_for(front, http_client)
    source = RegistrySource(name="harbor", url=front.url, kind="harbor")
    plan = evaluate_policies(policies, registries=[crawl_registry(adapter, source)], deployments=[], now=NOW)
    assert {item.digest for item in plan.items} == {pushed.app_v2.digest, pushed.cli.digest}
    store, report = save_and_execute(plan, adapter, "harbor", tmp_path)
    assert report.status == "completed" and report.deleted == 2, report.results
    assert sorted(fake.deleted_via_api) == sorted(
        [("team/app", pushed.app_v2.digest), ("team/tools/cli", pushed.cli.digest)]
    )
    assert front.count("DELETE", "/v2/") == 0  # never v2: Harbor's REST path is the delete path
    again = execute_plan(plan.plan_id, store=store, clients={"harbor": adapter}, current_deployments=list)
    assert again.status == "already_done" and len(fake.deleted_via_api) == 2  # runs once: nothing sent
    recrawled = crawl_registry(adapter, source)
    assert sorted(recrawled.tags) == ["lib/base", "team/app"]
    assert recrawled.tags["team/app"] == {"1.0": pushed.app_v1.digest, "latest": pushed.app_v1.digest}
    second = evaluate_policies(policies, registries=[recrawled], deployments=[], now=NOW)
    assert second.items == []
    assert adapter.delete_manifest("team/app", pushed.app_v2.digest) is False  # already gone: Harbor's 404


def test_harbor_refuses_what_v2_would_try(harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder) -> None:
    _, front = harbor
    seed(seeder)
    assert httpx.get(f"{front.url}/v2/_catalog").status_code == 401
    by_tag = httpx.delete(f"{front.url}/v2/team/app/manifests/latest")
    assert by_tag.status_code == 405 and by_tag.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_errors_are_clear(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = harbor
    seed(seeder)
    wrong = adapter_for(front, http_client, password="nope")
    with pytest.raises(AuthError, match=r"Harbor GET /projects: HTTP 401: UNAUTHORIZED: unauthorized"):
        wrong.catalog()
    inventory = crawl_registry(wrong, RegistrySource(name="harbor", url=front.url, kind="harbor"))
    assert inventory.partial and "HTTP 401" in inventory.errors[0] and "nope" not in inventory.errors[0]
    adapter = adapter_for(front, http_client)
    # 503 with Retry-After, then 429: retried after the pause the server asked for, then answered
    fake.fail_next = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "1"})]
    started = dt.datetime.now(dt.UTC)
    assert sorted(adapter.catalog()) == ["lib/base", "team/app", "team/tools/cli"]
    assert dt.datetime.now(dt.UTC) - started >= dt.timedelta(seconds=1)
    fake.fail_next = [(503, {})] * 4
    with pytest.raises(RegentError, match="server error 503 from Harbor GET /projects"):
        adapter.catalog()
    with pytest.raises(BadResponse, match="no project part"):
        adapter.native_times("loner", ["sha256:" + "1" * 64])


def test_bad_json_from_harbor_is_a_clear_error(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    from tests.fakes.portainer_http import Request, Response

    def broken(request: Request) -> Response | None:
        if request.path == "/api/v2.0/projects":
            return Response(200, b"<html>login</html>", {"Content-Type": "text/html"})
        if request.path.startswith("/api/v2.0/projects/"):  # an SSO front sending us elsewhere
            return Response(302, b"", {"Location": "https://sso.example/login?secret=harbor-secret"})
        return None

    with RegistryFront(registry.url, broken) as front:
        adapter = adapter_for(front, http_client)
        with pytest.raises(BadResponse, match="Harbor projects: the answer is not JSON"):
            adapter.catalog()
        with pytest.raises(
            UpstreamError, match=r"redirected \(302\) to https://sso\.example/login"
        ) as caught:
            adapter.native_times("team/app", [])
        assert "harbor-secret" not in str(caught.value)  # a credential echoed back is scrubbed


def test_the_swagger_check_catches_what_harbor_would_not_send() -> None:
    check = SwaggerCheck("harbor-swagger-subset.yaml")
    check.check("GET", "/api/v2.0/projects", "page=1&bogus=1", None, 200, [{"name": "a", "invented": 1}])
    check.check("GET", "/api/v2.0/projects", "", None, 200, [{"name": "a", "project_id": "1"}])
    check.check("DELETE", "/api/v2.0/projects", "", None, 200, None)
    check.check("POST", "/api/v2.0/retentions", "", {"rules": "all"}, 201, None)
    assert len(check.problems) == 5, check.problems
    assert any("invented" in p for p in check.problems) and any("bogus" in p for p in check.problems)


def test_one_probe_tells_a_harbor_from_a_plain_registry(
    harbor: tuple[FakeHarbor, RegistryFront], registry: RegistryServer, http_client: httpx.Client
) -> None:
    _, front = harbor
    assert is_harbor(front.url, http=http_client)  # systeminfo answers without credentials
    assert front.count("GET", "/api/v2.0/systeminfo") == 1
    assert not is_harbor(registry.url, http=http_client)  # docker-registry: 404
    assert not is_harbor("http://127.0.0.1:9", http=http_client)  # nothing listening: not Harbor, no error

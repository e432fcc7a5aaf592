"""Quay through its own API: a fake `/api/v1` (checked against Quay's description and the body schema from
its code) in front of a real docker-registry, driven by the real adapter, crawler, planner and executor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import PushedImage, PushedIndex, Seeder
from tests.fakes.portainer_http import Request, Response
from tests.fakes.quay import FakeQuay
from tests.fakes.quay_spec import QuayCheck
from tests.fakes.registry_front import RegistryFront
from tests.integration.registries.delete_support import NOW, push_two_platform_index, save_and_execute, spec
from tools.changes.retention import execute_plan
from tools.errors import AuthError, BadResponse, ConfigError, RegentError
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.quay.adapter import QuayRegistry
from tools.registry.kinds.select import build_registry

pytestmark = pytest.mark.real

TOKEN = "quay-oauth-token"


@dataclass
class Seeded:
    """What the scenario pushed."""

    app_v1: PushedImage  # acme/app:1.0 and :latest
    app_v2: PushedImage  # acme/app:2.0
    web: PushedImage  # acme/web:1.0
    base: PushedIndex  # acme/base:3.1, two platforms
    other: PushedImage  # other/tool:1.0, another namespace


def seed(seeder: Seeder) -> Seeded:
    app_v1 = seeder.push_image(spec("acme/app", "1.0", "v1", 100))
    seeder.tag("acme/app", app_v1.digest, "latest")
    return Seeded(
        app_v1=app_v1,
        app_v2=seeder.push_image(spec("acme/app", "2.0", "v2", 60)),
        web=seeder.push_image(spec("acme/web", "1.0", "web", 90)),
        base=push_two_platform_index(seeder, "acme/base", "3.1", 50),
        other=seeder.push_image(spec("other/tool", "1.0", "tool", 10)),
    )


@pytest.fixture
def quay(registry: RegistryServer) -> Iterator[tuple[FakeQuay, RegistryFront]]:
    fake = FakeQuay(registry.url, token=TOKEN, page_cap=1)
    with RegistryFront(registry.url, fake.route) as front:
        yield fake, front
    assert fake.check.problems == [], fake.check.problems  # every exchange fits what Quay documents


def adapter_for(front: RegistryFront, http: httpx.Client, **extra: str) -> QuayRegistry:
    config = AdapterConfig(
        kind="quay",
        url=front.url,
        http=http,
        username="acme+regent",  # a robot of the acme organization
        password=TOKEN,
        extra=extra,
    )
    adapter = build_registry(config)
    assert isinstance(adapter, QuayRegistry)
    return adapter


def ts(when: dt.datetime) -> int:
    return int(when.timestamp())


def test_crawl_lists_the_namespace_and_reports_exact_counts_bytes_and_clocks(
    quay: tuple[FakeQuay, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = quay
    pushed = seed(seeder)
    fake.start |= {
        ("acme/app", "1.0"): ts(NOW - dt.timedelta(days=99)),
        ("acme/app", "latest"): ts(NOW - dt.timedelta(days=20)),  # moved here later: 1.0's start is older
        ("acme/app", "2.0"): ts(NOW - dt.timedelta(days=59)),
        ("acme/web", "1.0"): ts(NOW - dt.timedelta(days=89)),
        ("acme/base", "3.1"): ts(NOW - dt.timedelta(days=49)),
    }
    adapter = adapter_for(front, http_client)
    assert adapter.catalog() == ["acme/app", "acme/base", "acme/web"]  # the robot's organization only
    assert front.count("GET", "/api/v1/repository?") == 3  # one repository per page: next_page followed
    source = RegistrySource(name="quay", url=front.url, kind="quay")
    inventory = crawl_registry(adapter, source, workers=2)
    assert not inventory.errors and not inventory.partial
    assert fake.check.checked >= 6
    assert front.count("GET", "/v2/_catalog") == 0
    assert inventory.tag_count == 5
    images = (pushed.app_v1, pushed.app_v2, pushed.web)
    index_bytes = pushed.base.size + sum(c.total_bytes for c in pushed.base.children)
    assert inventory.stored_bytes() == sum(i.total_bytes for i in images) + index_bytes  # no shared blobs
    assert (inventory.push_clock, inventory.pull_clock) == ("Quay tag start_ts", None)
    assert inventory.pushed == {
        pushed.app_v1.digest: NOW - dt.timedelta(days=99),
        pushed.app_v2.digest: NOW - dt.timedelta(days=59),
        pushed.web.digest: NOW - dt.timedelta(days=89),
        pushed.base.digest: NOW - dt.timedelta(days=49),
    }
    assert inventory.last_pulled == {}  # Quay has no pull clock
    # Quay's size is the layers alone; a manifest list has none
    assert inventory.native_sizes[pushed.web.digest] == sum(layer.size for layer in pushed.web.layers)
    assert pushed.base.digest not in inventory.native_sizes
    both = adapter_for(front, http_client, namespaces="acme, other")
    assert both.catalog() == ["acme/app", "acme/base", "acme/web", "other/tool"]


def test_a_plan_ends_tags_through_the_api_then_deletes_the_digest_and_a_second_run_deletes_nothing(
    quay: tuple[FakeQuay, RegistryFront], seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    _, front = quay
    pushed = seed(seeder)
    policies = parse_policies(
        """
policies:
  - name: tidy
    repositories: ["acme/**"]
    keep: [{tags: ["latest"]}, {tags: ["3.*"]}]
    delete: [{older_than_days: 30}]
"""
    )
    adapter = adapter_for(front, http_client)
    source = RegistrySource(name="quay", url=front.url, kind="quay")
    plan = evaluate_policies(policies, registries=[crawl_registry(adapter, source)], deployments=[], now=NOW)
    assert {item.digest for item in plan.items} == {pushed.app_v2.digest, pushed.web.digest}
    store, report = save_and_execute(plan, adapter, "quay", tmp_path)
    assert report.status == "completed" and report.deleted == 2, report.results
    assert front.count("DELETE", "/api/v1/repository/acme/app/tag/2.0") == 1  # the tag first, via the API
    assert front.count("DELETE", "/api/v1/repository/acme/web/tag/1.0") == 1
    assert front.count("DELETE", f"/v2/acme/app/manifests/{pushed.app_v2.digest}") == 1  # then the digest
    # the manifest stays in Quay (until its garbage collection), only its tags are gone
    assert adapter.head_manifest("acme/app", pushed.app_v2.digest) is not None
    # the ended tags are in the time machine: history shows them with an end time
    history = adapter.api.tag_history("acme/app", "2.0")
    assert [(t.manifest_digest, t.end is not None) for t in history] == [(pushed.app_v2.digest, True)]
    again = execute_plan(plan.plan_id, store=store, clients={"quay": adapter}, current_deployments=list)
    assert again.status == "already_done"
    assert front.count("DELETE") == 4  # nothing more was sent
    recrawled = crawl_registry(adapter, source)
    assert recrawled.tags["acme/app"] == {"1.0": pushed.app_v1.digest, "latest": pushed.app_v1.digest}
    assert evaluate_policies(policies, registries=[recrawled], deployments=[], now=NOW).items == []
    assert adapter.delete_manifest("acme/app", pushed.app_v2.digest) is False  # already gone


def test_errors_are_clear(
    quay: tuple[FakeQuay, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = quay
    seed(seeder)
    wrong = adapter_for(front, http_client, api_token="not-the-token")
    with pytest.raises(AuthError, match="Quay GET /repository: HTTP 401: Requires authentication"):
        wrong.catalog()
    token_only = build_registry(
        AdapterConfig(kind="quay", url=front.url, http=http_client, username="$oauthtoken")
    )
    with pytest.raises(ConfigError, match="set `namespaces`"):
        token_only.catalog()
    organisation = build_registry(
        AdapterConfig(
            kind="quay", url=front.url, http=http_client, password=TOKEN, extra={"organisation": "other"}
        )
    )
    assert organisation.catalog() == ["other/tool"]
    adapter = adapter_for(front, http_client)
    fake.fail_next = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "1"})]
    started = dt.datetime.now(dt.UTC)
    assert adapter.catalog() == ["acme/app", "acme/base", "acme/web"]
    assert dt.datetime.now(dt.UTC) - started >= dt.timedelta(seconds=1)  # Retry-After honoured
    fake.fail_next = [(429, {"Retry-After": "0"})] * 4
    with pytest.raises(RegentError, match=r"rate limited \(429\) by Quay GET /repository"):
        adapter.catalog()
    with pytest.raises(RegentError, match="Quay GET /repository/acme/nothing/tag/: HTTP 404: Not Found"):
        adapter.native_times("acme/nothing", [])


def test_a_broken_answer_is_a_clear_error(registry: RegistryServer, http_client: httpx.Client) -> None:
    def broken(request: Request) -> Response | None:
        if request.path == "/api/v1/repository":
            return Response(200, b'{"repositories": "all of them"}', {"Content-Type": "application/json"})
        return None

    with (
        RegistryFront(registry.url, broken) as front,
        pytest.raises(BadResponse, match="Quay repositories of acme: no 'repositories' list"),
    ):
        adapter_for(front, http_client).catalog()


def test_the_check_catches_what_quay_would_not_send() -> None:
    check = QuayCheck()
    check.check("GET", "/api/v1/repository", "namespace=acme", 200, {"repositories": [{"name": "x"}]})
    check.check("GET", "/api/v1/repository/acme/app/tag/", "bogus=1", 200, {"tags": [], "page": 1})
    check.check(
        "GET",
        "/api/v1/repository/acme/app/tag/",
        "page=one",
        200,
        {"tags": [], "page": 1, "has_additional": False},
    )
    check.check("DELETE", "/api/v1/repository/acme/app/tag/1.0", "", 202, None)
    check.check("DELETE", "/api/v1/repository/acme/app/tag/1.0", "", 404, {"detail": "gone"})
    assert len(check.problems) >= 6, check.problems
    assert any("ParameterValidationError" in p and "page" in p for p in check.problems)  # openapi-core's

"""Docker Hub through its adapter, against a fake Hub API (validated against Docker's published OpenAPI)
in front of a real docker-registry: listing, clocks, sizes, deletes, rate limits and bad credentials."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, PushedImage, Seeder
from tests.fakes.dockerhub_api import DEFAULT_PUSHED, Exchange, FakeDockerHubApi
from tools.changes.retention import execute_plan
from tools.errors import AuthError, RateLimited
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.registry.client import RegistryClient
from tools.registry.kinds.base import AdapterConfig, NativeRegistry
from tools.registry.kinds.dockerhub.adapter import DockerHubRegistry
from tools.registry.kinds.dockerhub.client import HubApi
from tools.registry.kinds.select import build_registry, kind_for

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PAT = "dckr_pat_fake-0123456789"
SPEC = Path(__file__).parents[2] / "fakes" / "specs" / "dockerhub-hub-api.yaml"
HUB = "https://hub.docker.com"  # the spec's server; exchanges are validated as if sent there
KEEP_LATEST = """
policies:
  - name: tidy
    repositories: ["acme/app"]
    keep:
      - tags: [latest]
    delete:
      - all: true
"""


@dataclass
class Seeded:
    """What the scenario pushed."""

    current: PushedImage  # acme/app: 1.0 and latest
    old: PushedImage  # acme/app: 0.9 and 0.9.1
    oldest: PushedImage  # acme/app: 0.8
    tool: PushedImage  # acme/tool: 2.0
    build: PushedImage  # acme-ci/build: main
    stranger: PushedImage  # other/x: 1 (a namespace nobody named)

    def listed(self) -> list[PushedImage]:
        return [self.current, self.old, self.oldest, self.tool, self.build]


def image(repository: str, tag: str, seed: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=seed, own_layers=2)


def seed(seeder: Seeder) -> Seeded:
    current = seeder.push_image(image("acme/app", "1.0", "current"))
    seeder.tag("acme/app", current.digest, "latest")
    old = seeder.push_image(image("acme/app", "0.9", "old"))
    seeder.tag("acme/app", old.digest, "0.9.1")
    return Seeded(
        current=current,
        old=old,
        oldest=seeder.push_image(image("acme/app", "0.8", "oldest")),
        tool=seeder.push_image(image("acme/tool", "2.0", "tool")),
        build=seeder.push_image(image("acme-ci/build", "main", "build")),
        stranger=seeder.push_image(image("other/x", "1", "stranger")),
    )


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def hub(registry: RegistryServer) -> Iterator[FakeDockerHubApi]:
    with FakeDockerHubApi(registry.url, users={"acme": PAT}) as fake:
        yield fake


def adapter(hub: FakeDockerHubApi, http: httpx.Client, *, secret: str = PAT) -> NativeRegistry:
    config = AdapterConfig(
        kind=kind_for(portainer_type=6),
        url=hub.url,
        http=http,
        username="acme",
        password=secret,
        extra={"namespaces": "acme-ci"},
    )
    return build_registry(config)


def layer_bytes(pushed: PushedImage) -> int:
    return sum(layer.size for layer in pushed.layers)


def stored_bytes(images: list[PushedImage]) -> int:
    blobs: dict[str, int] = {}
    for pushed in images:
        blobs[pushed.digest] = pushed.manifest_size
        blobs[pushed.config_digest] = pushed.config_size
        blobs.update({layer.digest: layer.size for layer in pushed.layers})
    return sum(blobs.values())


def assert_follows_spec(hub: FakeDockerHubApi) -> int:
    """Every Hub API exchange, request and answer, validated against Docker's OpenAPI; returns how many.

    Outside the document (and so checked here by hand): the tag DELETE (hub-tool's route: 204, no body)
    and 429 answers (the document's rate-limiting section: Retry-After and the X-RateLimit-* headers).
    """
    api = OpenAPI.from_file_path(str(SPEC))
    checked = 0
    for exchange in hub.state.exchanges:
        if exchange.status == 429:
            assert_documented_429(exchange)
            continue
        if exchange.method == "DELETE":
            assert exchange.path.startswith("/v2/repositories/") and exchange.path.endswith("/")
            assert exchange.status in (204, 404)
            continue
        request = MockRequest(
            HUB,
            exchange.method.lower(),
            exchange.path,
            args=dict(httpx.QueryParams(exchange.query)),
            headers=exchange.headers,
            data=exchange.body or None,
        )
        api.validate_request(request)
        answer_type = exchange.answer_headers.get("Content-Type", "application/json")
        api.validate_response(
            request, MockResponse(exchange.answer, exchange.status, content_type=answer_type)
        )
        checked += 1
    return checked


def assert_documented_429(exchange: Exchange) -> None:
    headers = exchange.answer_headers
    assert int(headers["Retry-After"]) >= 0 and headers["X-RateLimit-Remaining"] == "0"
    assert json.loads(exchange.answer) == {"detail": "Rate limit exceeded", "error": False}


def test_crawl_lists_namespaces_and_reads_hub_clocks(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seed(seeder)
    hub.set_clock("acme/app", "1.0", pushed=days_ago(30), pulled=days_ago(2))
    hub.set_clock("acme/app", "latest", pushed=days_ago(10), pulled=days_ago(5))
    hub.set_clock("acme/app", "0.9", pushed=days_ago(200), pulled=None)
    hub.set_clock("acme/app", "0.9.1", pushed=days_ago(150), pulled=days_ago(120))
    hub.state.max_page_size = 2  # three pages of tags, two of repositories: pagination is followed
    client = adapter(hub, http_client)
    assert isinstance(client, DockerHubRegistry)

    assert client.catalog() == ["acme/app", "acme/tool", "acme-ci/build"]
    found = crawl_registry(client, RegistrySource(name="hub", url=hub.url, kind="dockerhub"), workers=2)
    assert not found.errors
    assert found.tags == {
        "acme/app": {
            "1.0": pushed.current.digest,
            "latest": pushed.current.digest,
            "0.9": pushed.old.digest,
            "0.9.1": pushed.old.digest,
            "0.8": pushed.oldest.digest,
        },
        "acme/tool": {"2.0": pushed.tool.digest},
        "acme-ci/build": {"main": pushed.build.digest},
    }
    assert found.tag_count == 7 and found.stored_bytes() == stored_bytes(pushed.listed())

    app = [pushed.current.digest, pushed.old.digest, pushed.oldest.digest]
    before = hub.front.count("GET", "/v2/namespaces/acme/repositories/app/tags")
    times = client.native_times("acme/app", app)
    assert hub.front.count("GET", "/v2/namespaces/acme/repositories/app/tags") - before == 3  # 3 pages
    # newest push and newest pull across the tags on one digest; size is the Hub's full_size (layers)
    assert times[pushed.current.digest].pushed == days_ago(10)
    assert times[pushed.current.digest].last_pulled == days_ago(2)
    assert times[pushed.old.digest].pushed == days_ago(150)
    assert times[pushed.old.digest].last_pulled == days_ago(120)
    assert (times[pushed.oldest.digest].pushed, times[pushed.oldest.digest].last_pulled) == (
        DEFAULT_PUSHED,
        None,
    )
    assert {d: t.size for d, t in times.items()} == {p.digest: layer_bytes(p) for p in pushed.listed()[:3]}
    assert client.native_times("acme/app", [pushed.tool.digest]) == {}  # another repository's digest

    assert hub.front.count("GET", "/v2/_catalog") == 0  # Docker Hub has none; never asked
    assert hub.front.count("POST", "/v2/auth/token") == 1  # one JWT for the whole crawl
    assert assert_follows_spec(hub) >= 8


def test_delete_plan_goes_through_hub_tags_then_v2_and_runs_once(
    hub: FakeDockerHubApi, registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    pushed = seed(seeder)
    client = adapter(hub, http_client)
    source = RegistrySource(name="hub", url=hub.url, kind="dockerhub")
    found = crawl_registry(client, source, repositories=["acme/app"])
    plan = evaluate_policies(parse_policies(KEEP_LATEST), registries=[found], deployments=[], now=NOW)
    assert {item.digest for item in plan.items} == {pushed.old.digest, pushed.oldest.digest}
    store = PlanStore(tmp_path / "state.db")
    store.save(plan)

    report = execute_plan(plan.plan_id, store=store, clients={"hub": client}, current_deployments=list)
    assert (report.deleted, report.failed, report.skipped) == (2, 0, 0), report.results
    tag_deletes = [p for m, p in hub.front.seen if m == "DELETE" and p.startswith("/v2/repositories/")]
    assert sorted(tag_deletes) == [
        "/v2/repositories/acme/app/tags/0.8/",
        "/v2/repositories/acme/app/tags/0.9.1/",
        "/v2/repositories/acme/app/tags/0.9/",
    ]
    assert hub.front.count("DELETE", f"/v2/acme/app/manifests/{pushed.old.digest}") == 1
    real = RegistryClient(registry.url, http=http_client)
    assert real.head_manifest("acme/app", pushed.old.digest) is None  # gone from the real registry
    assert real.head_manifest("acme/app", pushed.oldest.digest) is None
    assert sorted(real.list_tags("acme/app")) == ["1.0", "latest"]

    sent = len(hub.front.seen)
    again = execute_plan(plan.plan_id, store=store, clients={"hub": client}, current_deployments=list)
    assert again.status == "already_done" and len(hub.front.seen) == sent  # nothing asked, nothing deleted
    recrawl = crawl_registry(client, source, repositories=["acme/app"])
    replan = evaluate_policies(parse_policies(KEEP_LATEST), registries=[recrawl], deployments=[], now=NOW)
    assert replan.items == []
    assert client.delete_manifest("acme/app", pushed.old.digest) is False  # already gone
    assert assert_follows_spec(hub) >= 4


def test_v2_alone_cannot_delete_a_tagged_manifest_on_the_fake_hub(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seed(seeder)
    plain = NativeRegistry(AdapterConfig(kind="custom", url=hub.url, http=http_client))
    with pytest.raises(AuthError, match="403"):
        plain.delete_manifest("acme/app", pushed.oldest.digest)
    with pytest.raises(Exception, match="UNSUPPORTED"):
        plain.catalog()
    assert plain.head_manifest("acme/app", pushed.oldest.digest) is not None


def test_429_waits_for_retry_after_once_and_says_so(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    seed(seeder)
    client = adapter(hub, http_client)
    assert isinstance(client, DockerHubRegistry)
    client.catalog()  # a token first, so the counts below are the listing's own
    hub.state.throttle = [1]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tools.registry.kinds.dockerhub.client"):
        assert client.catalog() == ["acme/app", "acme/tool", "acme-ci/build"]
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0  # waited what Retry-After said, not more, not less
    assert hub.front.count("GET", "/v2/namespaces/acme/repositories") == 3  # first, 429'd, retried
    assert "Retry-After 1 s" in caplog.text and "429" in caplog.text
    assert [w.seconds for w in client.hub.waits] == [1.0]
    assert_follows_spec(hub)


def test_429_beyond_the_wait_limit_is_reported_not_hammered(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed(seeder)
    client = adapter(hub, http_client)
    client.catalog()  # a token first: the 429 falls on the listing
    hub.state.throttle = [3600]
    started = time.monotonic()
    found = crawl_registry(client, RegistrySource(name="hub", url=hub.url, kind="dockerhub"))
    assert time.monotonic() - started < 1.0  # an hour is not waited for, and not retried either
    assert found.partial and len(found.errors) == 1
    assert "rate limit (429)" in found.errors[0] and "3600 s (Retry-After)" in found.errors[0]
    assert hub.front.count("GET", "/v2/namespaces/") == 3  # the 2 before, and the 429'd one alone

    api = HubApi(hub.url, http=http_client, identifier="acme", secret=PAT, attempts=3, max_retry_wait=5)
    hub.state.throttle = [1, 1, 1]
    sent = len(hub.state.exchanges)
    started = time.monotonic()
    with pytest.raises(RateLimited, match=r"after 3 attempts \(waited 2.0 s as Retry-After asked\)"):
        api.namespace_repositories("acme")
    assert 2.0 <= time.monotonic() - started < 4.0
    assert len(hub.state.exchanges) - sent == 3  # 3 attempts (at the token), none without its wait
    assert_follows_spec(hub)


def test_bad_credentials_are_a_clear_error_and_expired_tokens_are_renewed(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed(seeder)
    wrong = adapter(hub, http_client, secret="dckr_pat_wrong")
    with pytest.raises(AuthError) as refused:
        wrong.catalog()
    assert "rejected the credentials of 'acme'" in str(refused.value)
    assert "dckr_pat_wrong" not in str(refused.value)
    found = crawl_registry(wrong, RegistrySource(name="hub", url=hub.url, kind="dockerhub"))
    assert found.partial and "rejected the credentials" in found.errors[0]

    hub.state.token_ttl = 0.3  # the Hub ends the JWT before Regent's own 10-minute clock does
    client = adapter(hub, http_client)
    assert client.catalog() == ["acme/app", "acme/tool", "acme-ci/build"]
    time.sleep(0.4)
    assert client.catalog() == ["acme/app", "acme/tool", "acme-ci/build"]
    statuses = [(e.path, e.status) for e in hub.state.exchanges if e.path.startswith("/v2/namespaces/acme/")]
    assert statuses.count(("/v2/namespaces/acme/repositories", 401)) == 1  # one 401, then a new token
    assert hub.front.count("POST", "/v2/auth/token") == 4  # 2 refused + first token + its renewal
    assert_follows_spec(hub)

"""Docker Hub through its adapter, against a fake Hub API (validated against Docker's published OpenAPI)
in front of a real docker-registry: listing, clocks, sizes, deletes, rate limits and bad credentials."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from diskcache import Cache
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.dockerhub_api import DEFAULT_PUSHED, FakeDockerHubApi
from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront
from tests.integration.registries.dockerhub_support import (
    KEEP_LATEST,
    NOW,
    PAT,
    SPEC,
    assert_follows_spec,
    days_ago,
    layer_bytes,
    seed,
    stored_bytes,
)
from tools.changes.retention import execute_plan
from tools.errors import AuthError, BadResponse, NotFound, RateLimited
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.portainer.models import REGISTRY_KINDS
from tools.registry.client import RegistryClient
from tools.registry.kinds.base import AdapterConfig, NativeRegistry
from tools.registry.kinds.dockerhub.adapter import DockerHubRegistry
from tools.registry.kinds.dockerhub.client import HubApi
from tools.registry.kinds.select import build_registry, kind_for


@pytest.fixture
def hub(registry: RegistryServer) -> Iterator[FakeDockerHubApi]:
    with FakeDockerHubApi(registry.url, users={"acme": PAT}) as fake:
        yield fake


def adapter(
    hub: FakeDockerHubApi, http: httpx.Client, *, secret: str = PAT, cache: Cache | None = None
) -> NativeRegistry:
    config = AdapterConfig(
        kind=kind_for(hint=REGISTRY_KINDS[6]),
        url=hub.url,
        http=http,
        cache=cache,
        username="acme",
        password=secret,
        extra={"namespaces": "acme-ci"},
    )
    return build_registry(config)


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


def test_pull_limit_429_stops_manifest_gets_and_is_reported(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed(seeder)
    hub.state.pull_quota = 2  # two manifest GETs (pulls) left; HEADs and the Hub API do not count
    with Cache(str(tmp_path / "cache")) as cache:  # a digest under two tags is pulled once
        client = adapter(hub, http_client, cache=cache)
        found = crawl_registry(client, RegistrySource(name="hub", url=hub.url, kind="dockerhub"), workers=1)
    gets = [p for m, p in hub.front.seen if m == "GET" and "/manifests/" in p]
    assert len(found.manifests) == 2  # 0.8 and 0.9; 0.9.1 is on 0.9's digest: found, not pulled again
    assert len(gets) == 2 + 4  # the first 429 retried within the v2 client's 4 attempts, then none
    limited = [e for e in found.errors if "pull rate limit" in e]
    unfetched = [
        (r, t) for (r, t), d in seeder.tagged().items() if d not in found.manifests and r != "other/x"
    ]
    assert len(limited) == len(unfetched) == 4  # each tag left unread says why
    assert "no more manifest GETs for 15 minutes" in " ".join(limited)
    assert hub.front.count("HEAD") == 7  # every tag still resolved (HEADs are free)


def test_no_calls_left_waits_for_the_reset_instead_of_a_429(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed(seeder)
    client = adapter(hub, http_client)
    assert isinstance(client, DockerHubRegistry)
    hub.state.api_remaining, hub.state.api_reset_in = 2, 2  # the token and one listing, then none left
    client.hub.namespace_repositories("acme")
    started = time.monotonic()
    client.hub.namespace_repositories("acme-ci")
    assert time.monotonic() - started >= 1.0  # held until X-RateLimit-Reset (a whole second or two)
    assert [w.reason for w in client.hub.waits] == [
        "Docker Hub API: X-RateLimit-Remaining was 0; waiting for X-RateLimit-Reset"
    ]
    assert not [e for e in hub.state.exchanges if e.status == 429]  # the limit was never hit
    assert_follows_spec(hub)


def test_hostile_hub_answers_are_clear_errors(registry: RegistryServer, http_client: httpx.Client) -> None:
    answers = {
        "/v2/namespaces/away/repositories": {
            "count": 2,
            "next": "https://evil.example/x",
            "results": [{"name": "a"}],
        },
        "/v2/namespaces/odd/repositories": {"count": 1, "results": {"name": "a"}},
        "/v2/namespaces/loop/repositories": {
            "count": 1,
            "next": "/v2/namespaces/loop/repositories",
            "results": [{"name": "a"}],
        },
        "/v2/namespaces/n/repositories/r/tags": {
            "results": [{"name": "t", "tag_last_pushed": "garbage", "full_size": -1}]
        },
    }

    def route(request: Request) -> Response | None:
        if request.path == "/v2/namespaces/text/repositories":
            return Response(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})
        found = answers.get(request.path)
        return (
            json_response(200, found) if found is not None else json_response(404, {"detail": "Not found."})
        )

    with RegistryFront(registry.url, route) as front:
        api = HubApi(front.url, http=http_client)  # anonymous: public data only, no token request
        with pytest.raises(BadResponse, match=r"'next' points at 'evil\.example'; refused"):
            api.namespace_repositories("away")
        with pytest.raises(BadResponse, match="'results' is not a list"):
            api.namespace_repositories("odd")
        with pytest.raises(BadResponse, match="JSON"):
            api.namespace_repositories("text")
        with pytest.raises(BadResponse, match="leads back to a page already read"):
            api.namespace_repositories("loop")
        (tag,) = api.tags("n", "r")
        assert (tag.last_pushed, tag.full_size, tag.digest) == (None, None, None)  # unreadable: unknown
        with pytest.raises(NotFound):
            api.tags("n", "gone")
        assert api.delete_tag("n", "r", "t") is False  # 404: already gone
        assert front.count("POST") == 0


def test_workers_starting_together_share_one_token(
    hub: FakeDockerHubApi, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed(seeder)
    api = HubApi(hub.url, http=http_client, identifier="acme", secret=PAT)
    with ThreadPoolExecutor(max_workers=6) as pool:
        listed = list(pool.map(lambda _: len(api.tags("acme", "app")), range(6)))
    assert listed == [5] * 6
    assert hub.front.count("POST", "/v2/auth/token") == 1


def test_the_trimmed_hub_spec_is_still_a_valid_openapi_document() -> None:
    document, _ = read_from_filename(str(SPEC))
    validate(document)  # raises on an invalid document
    header = SPEC.read_text().splitlines()[:4]
    assert any("docker/docs" in line and "latest.yaml" in line for line in header)
    assert any("c065f8002e74b9ef1a9a5afe638f8ae13da5193d" in line for line in header)

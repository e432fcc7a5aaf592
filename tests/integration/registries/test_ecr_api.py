"""The ECR control plane where moto falls short, and its failures: paging, pull clocks, throttling, bad keys.

Paging and `lastRecordedPullTime` use botocore's Stubber: each canned answer is validated by botocore
against its own ECR service model (the shapes real ECR answers in), and each request's parameters are
checked against what the test expects. Throttling and bad keys go over HTTP to moto's server.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any

import httpx
import moto.settings
import pytest
from botocore.stub import Stubber

from tests.fakes.ecr import ACCESS_KEY, REGION, SECRET_KEY, MotoEcr, throttling
from tests.fakes.portainer_http import Request, Response
from tests.fakes.registry_front import RegistryFront
from tests.integration.registries.ecr_support import adapter_config, moto_ecr
from tools.errors import AuthError, ConfigError, RateLimited
from tools.registry.kinds.ecr.adapter import EcrRegistry
from tools.registry.kinds.ecr.client import EcrApi
from tools.registry.kinds.select import build_registry

__all__ = ["moto_ecr"]  # fixture, imported for pytest

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
NO_ENDPOINT = "http://127.0.0.1:9"  # the Stubber answers before anything is sent


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def token_answer(password: str, expires: dt.datetime) -> dict[str, Any]:
    encoded = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {
        "authorizationData": [
            {"authorizationToken": encoded, "expiresAt": expires, "proxyEndpoint": "https://x.dkr.ecr"}
        ]
    }


def stubbed_api(monkeypatch: pytest.MonkeyPatch) -> tuple[EcrApi, Stubber]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", NO_ENDPOINT)
    api = EcrApi(region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    return api, Stubber(api.boto_client)


def stubbed_adapter(monkeypatch: pytest.MonkeyPatch, http: httpx.Client) -> tuple[EcrRegistry, Stubber]:
    api, stubber = stubbed_api(monkeypatch)
    stubber.activate()
    return EcrRegistry(adapter_config(NO_ENDPOINT, http), api=api), stubber


def detail(n: int, *, pulled: dt.datetime | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "repositoryName": "team/app",
        "imageDigest": digest(n),
        "imageTags": [f"v{n}"],
        "imageSizeInBytes": 1000 + n,
        "imagePushedAt": T0 - dt.timedelta(days=n),
    }
    if pulled is not None:
        entry["lastRecordedPullTime"] = pulled
    return entry


def test_repositories_follow_next_token(monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client) -> None:
    adapter, stubber = stubbed_adapter(monkeypatch, http_client)
    page = [{"repositoryName": f"r{i:04}"} for i in range(1000)]
    stubber.add_response(
        "describe_repositories", {"repositories": page, "nextToken": "t1"}, {"maxResults": 1000}
    )
    stubber.add_response(
        "describe_repositories",
        {"repositories": [{"repositoryName": "zz"}]},
        {"maxResults": 1000, "nextToken": "t1"},
    )
    assert adapter.catalog() == [*(e["repositoryName"] for e in page), "zz"]
    stubber.assert_no_pending_responses()


def test_native_times_batch_by_100_and_carry_the_pull_clock(
    monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    adapter, stubber = stubbed_adapter(monkeypatch, http_client)
    wanted = [digest(n) for n in range(1, 151)]
    for batch in (sorted(wanted)[:100], sorted(wanted)[100:]):
        numbers = [int(d.removeprefix("sha256:"), 16) for d in batch]
        stubber.add_response(
            "describe_images",
            {"imageDetails": [detail(n, pulled=T0 if n % 2 else None) for n in numbers]},
            {"repositoryName": "team/app", "imageIds": [{"imageDigest": d} for d in batch]},
        )
    times = adapter.native_times("team/app", wanted)
    stubber.assert_no_pending_responses()
    assert len(times) == 150
    assert times[digest(3)].last_pulled == T0 and times[digest(4)].last_pulled is None
    assert times[digest(3)].pushed == T0 - dt.timedelta(days=3)
    assert times[digest(3)].size == 1003


def test_a_digest_gone_meanwhile_falls_back_to_the_paged_listing(
    monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    adapter, stubber = stubbed_adapter(monkeypatch, http_client)
    stubber.add_client_error(
        "describe_images",
        service_error_code="ImageNotFoundException",
        service_message="The image with imageId {imageDigest:'sha256:…'} does not exist",
        http_status_code=400,
    )
    stubber.add_response(
        "describe_images",
        {"imageDetails": [detail(1, pulled=T0), detail(9)], "nextToken": "p2"},
        {"repositoryName": "team/app", "maxResults": 1000},
    )
    stubber.add_response(
        "describe_images",
        {"imageDetails": [detail(2)]},
        {"repositoryName": "team/app", "maxResults": 1000, "nextToken": "p2"},
    )
    times = adapter.native_times("team/app", [digest(1), digest(2), digest(3)])
    stubber.assert_no_pending_responses()
    assert sorted(times) == [digest(1), digest(2)]  # 3 is gone; 9 was not asked for
    assert times[digest(1)].last_pulled == T0


def test_no_permission_and_a_bad_region_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    adapter, stubber = stubbed_adapter(monkeypatch, http_client)
    stubber.add_client_error(
        "describe_images", service_error_code="AccessDeniedException", http_status_code=400
    )
    with pytest.raises(AuthError, match=r"may not call ecr:DescribeImages in eu-west-1"):
        adapter.native_times("team/app", [digest(1)])
    with pytest.raises(ConfigError, match="not an AWS region name"):
        build_registry(adapter_config(NO_ENDPOINT, http_client, region="Frankfurt"))
    with pytest.raises(ConfigError, match="no region"):
        build_registry(adapter_config(NO_ENDPOINT, http_client, region=""))
    host = "https://123456789012.dkr.ecr.eu-central-1.amazonaws.com"  # a record without Ecr.Region
    from_host = build_registry(adapter_config(host, http_client, region=""))
    assert isinstance(from_host, EcrRegistry) and from_host.api.region == "eu-central-1"
    with pytest.raises(ConfigError, match="access key id"):
        build_registry(adapter_config(NO_ENDPOINT, http_client, password=None))


def test_bad_keys_are_refused_by_moto_with_a_clear_error(
    moto_ecr: MotoEcr, monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys from now on
    adapter = build_registry(adapter_config("http://127.0.0.1:9", http_client))  # nothing sent yet
    with pytest.raises(AuthError, match="AWS rejected the ECR access key") as caught:
        adapter.catalog()
    assert SECRET_KEY not in str(caught.value) and ACCESS_KEY not in str(caught.value)


def test_throttling_is_retried_then_bounded(
    moto_ecr: MotoEcr, monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    moto_ecr.client().create_repository(repositoryName="team/app")
    route, throttled = throttling(["DescribeRepositories"], times=2)
    with RegistryFront(moto_ecr.url, route) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", front.url)
        api = EcrApi(region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, max_attempts=3)
        assert api.repositories() == ["team/app"]
        assert throttled == ["DescribeRepositories"] * 2 and front.count("POST") == 3
    route, throttled = throttling(["DescribeRepositories"], times=None)
    with RegistryFront(moto_ecr.url, route) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", front.url)
        api = EcrApi(region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, max_attempts=3)
        with pytest.raises(RateLimited, match="ECR throttled DescribeRepositories"):
            api.repositories()
        assert len(throttled) == 3  # max_attempts in all, then the error


def test_throttling_waits_as_long_as_the_answer_asks(
    moto_ecr: MotoEcr, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_ecr.client().create_repository(repositoryName="team/app")
    route, throttled = throttling(["DescribeRepositories"], times=1, retry_after_ms=1500)
    with RegistryFront(moto_ecr.url, route) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", front.url)
        api = EcrApi(region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, max_attempts=3)
        start = time.monotonic()
        assert api.repositories() == ["team/app"]
        waited = time.monotonic() - start
    assert throttled == ["DescribeRepositories"]
    assert waited >= 1.5  # the backoff alone would be under a second for a first retry


def test_registry_token_is_fetched_before_the_first_request_and_again_before_it_expires(
    monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    api, stubber = stubbed_api(monkeypatch)
    first, second = "first-token", "second-token"
    stubber.add_response("get_authorization_token", token_answer(first, T0 + dt.timedelta(hours=12)), {})
    stubber.add_response("get_authorization_token", token_answer(second, T0 + dt.timedelta(hours=24)), {})
    stubber.activate()
    accepted = {"Basic " + base64.b64encode(f"AWS:{t}".encode()).decode(): t for t in (first, second)}
    seen: list[str] = []

    def route(request: Request) -> Response:
        token = accepted.get(request.headers.get("authorization", ""))
        if token is None:
            return Response(401, b"{}", {"WWW-Authenticate": 'Basic realm="ecr",service="ecr.amazonaws.com"'})
        seen.append(token)
        return Response(200, b"{}", {"Content-Type": "application/json"})

    now = [T0]
    with RegistryFront(NO_ENDPOINT, route) as front:
        adapter = EcrRegistry(adapter_config(front.url, http_client), api=api, clock=lambda: now[0])
        assert api.calls["GetAuthorizationToken"] == 0  # building the client sends nothing
        adapter.ping()
        now[0] = T0 + dt.timedelta(hours=11)
        adapter.ping()  # an hour left: the same token
        now[0] = T0 + dt.timedelta(hours=11, minutes=56)
        adapter.ping()  # four minutes left: a new one first
        adapter.ping()
    stubber.assert_no_pending_responses()
    assert api.calls["GetAuthorizationToken"] == 2
    assert seen == [first, first, second, second]

"""DockerHubClient.rate_limit against a local fake Docker Hub (never the internet)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes.dockerhub import FakeDockerHub
from tools.errors import AuthError, RateLimited, Unreachable
from tools.events.client import DockerHubClient, parse_rate_header

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture
def hub() -> Iterator[FakeDockerHub]:
    with FakeDockerHub() as fake:
        yield fake


def client_for(hub: FakeDockerHub, http: httpx.Client, **kwargs: str) -> DockerHubClient:
    return DockerHubClient(http=http, auth_url=hub.auth_url, registry_url=hub.url, **kwargs)


def test_anonymous_limit_and_remaining_are_read_with_a_head(
    hub: FakeDockerHub, http_client: httpx.Client
) -> None:
    limit = client_for(hub, http_client).rate_limit(now=NOW)
    assert (limit.limit, limit.remaining, limit.window_seconds) == (100, 76, 21600)
    assert (limit.source, limit.authenticated, limit.note) == ("203.0.113.9", False, None)
    methods = [(m, p) for m, p, _q in hub.state.requests]
    assert methods == [("GET", "/token"), ("HEAD", "/v2/ratelimitpreview/test/manifests/latest")]
    assert "scope=repository%3Aratelimitpreview%2Ftest%3Apull" in hub.state.requests[0][2]


def test_an_unlimited_account_gets_no_headers(hub: FakeDockerHub, http_client: httpx.Client) -> None:
    hub.state.users["acme"] = "pw"
    hub.state.limit = hub.state.remaining = None
    limit = client_for(hub, http_client, username="acme", password="pw").rate_limit(now=NOW)
    assert (limit.limit, limit.remaining, limit.authenticated) == (None, None, True)
    assert limit.note and "not limited" in limit.note


def test_exhausted_limit_is_reported_not_raised(hub: FakeDockerHub, http_client: httpx.Client) -> None:
    hub.state.status, hub.state.remaining = 429, "0;w=21600"
    limit = client_for(hub, http_client).rate_limit(now=NOW)
    assert (limit.limit, limit.remaining) == (100, 0)


def test_errors_become_project_errors_without_secrets(hub: FakeDockerHub, http_client: httpx.Client) -> None:
    with pytest.raises(AuthError) as refused:
        client_for(hub, http_client, username="acme", password="wrong-pw").rate_limit(now=NOW)
    assert "wrong-pw" not in str(refused.value)
    hub.state.status, hub.state.limit, hub.state.remaining = 429, None, None
    with pytest.raises(RateLimited):
        client_for(hub, http_client).rate_limit(now=NOW)
    dead = DockerHubClient(
        http=http_client, auth_url="http://127.0.0.1:1/token", registry_url="http://127.0.0.1:1"
    )
    with pytest.raises(Unreachable):
        dead.rate_limit(now=NOW)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("100;w=21600", (100, 21600)),
        ("76", (76, None)),
        (" 5 ; w = 60", (5, 60)),
        ("", (None, None)),
        (None, (None, None)),
        ("x", (None, None)),
    ],
)
def test_parse_rate_header(value: str | None, parsed: tuple[int | None, int | None]) -> None:
    assert parse_rate_header(value) == parsed

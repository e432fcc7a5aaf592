"""The registry client against a real docker-registry: auth, paging, media types, retries, errors, cache."""

from __future__ import annotations

import datetime as dt
import io
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from diskcache import Cache

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import BearerAuth, ImageSpec, Seeder, seed_sample
from tests.conftest import TEST_USERS, SeederFactory, need_binary
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.token_server import TokenServer
from tools.errors import AuthError, BadResponse, NotFound, RateLimited, Unreachable, UpstreamError
from tools.registry import http11, transport
from tools.registry.client import ManifestHead, RegistryClient
from tools.registry.http import CookielessClient, pooled_client
from tools.registry.media_types import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


@pytest.fixture(params=["httpx", "raw"])
def http_client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Every test twice: through httpx, and through the raw transport that pooled_client carries."""
    if request.param == "httpx":
        yield request.getfixturevalue("http_client")  # the session's plain httpx client (conftest.py)
        return
    with pooled_client(connections=4, timeout=60) as client:
        yield client


def client_for(
    url: str, http: httpx.Client, *, cache: Cache | None = None, **kwargs: object
) -> RegistryClient:
    return RegistryClient(url, http=http, cache=cache, max_retry_wait=2.0, **kwargs)  # type: ignore[arg-type]


def test_catalog_pages_through_link(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    for i in range(5):
        seeder.push_image(ImageSpec(repository=f"team/r{i}", tag="v1", created=NOW))
    client = client_for(registry.url, http_client, catalog_page=2)
    assert client.catalog() == [f"team/r{i}" for i in range(5)]
    assert client.requests["GET"] == 3  # pages of 2, 2 and 1


def test_every_media_type_round_trips(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    client = client_for(registry.url, http_client)
    seen_types = set()
    for (repository, tag), digest in seeder.tagged().items():
        head = client.head_manifest(repository, tag)
        assert head is not None and head.digest == digest
        manifest = client.get_manifest(repository, tag)
        assert manifest.digest == digest
        seen_types.add(manifest.media_type)
    assert seen_types >= {DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX}


def test_config_blob_and_cache(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW, labels={"a": "b"}))
    with Cache(str(tmp_path / "cache")) as cache:
        client = client_for(registry.url, http_client, cache=cache)
        config = client.get_blob_json("shop/api", pushed.config_digest)
        assert config["config"]["Labels"] == {"a": "b"}
        client.get_manifest("shop/api", pushed.digest)
        before = client.requests["GET"]
        client.get_blob_json("shop/api", pushed.config_digest)
        client.get_manifest("shop/api", pushed.digest)
        assert client.requests["GET"] == before  # content addressed by digest never asks twice


def test_tags_and_missing_things(registry: RegistryServer, seeder: Seeder, http_client: httpx.Client) -> None:
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.1", created=NOW))
    client = client_for(registry.url, http_client)
    assert sorted(client.list_tags("shop/api")) == ["1.0", "1.1"]
    assert client.head_manifest("shop/api", "nope") is None
    with pytest.raises(NotFound, match="MANIFEST_UNKNOWN"):
        client.get_manifest("shop/api", "nope")
    with pytest.raises(NotFound):
        client.list_tags("no/such")


def test_delete_by_digest_removes_every_tag(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    seeder.tag("shop/api", pushed.digest, "latest")
    client = client_for(registry.url, http_client)
    assert client.delete_manifest("shop/api", pushed.digest) is True
    assert client.head_manifest("shop/api", "latest") is None
    assert client.delete_manifest("shop/api", pushed.digest) is False  # already gone counts as done
    with pytest.raises(ValueError, match="digest"):
        client.delete_manifest("shop/api", "1.0")


def test_basic_auth(
    registry_htpasswd: RegistryServer, make_seeder: SeederFactory, http_client: httpx.Client
) -> None:
    seeder = make_seeder(registry_htpasswd, auth=("alice", "s3cret"))
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    good = client_for(registry_htpasswd.url, http_client, username="alice", password="s3cret")
    assert good.catalog() == ["shop/api"]
    anonymous = client_for(registry_htpasswd.url, http_client)
    with pytest.raises(AuthError):
        anonymous.catalog()
    wrong = client_for(registry_htpasswd.url, http_client, username="alice", password="wrong-pw")
    with pytest.raises(AuthError) as caught:
        wrong.catalog()
    assert "wrong-pw" not in str(caught.value)


def test_basic_auth_answers_a_challenge_for_requests_sent_before_it(
    registry_htpasswd: RegistryServer, make_seeder: SeederFactory, http_client: httpx.Client
) -> None:
    """Parallel requests of a fresh client all go out without credentials and all get the Basic challenge;
    each of them retries with the credentials, not only the one that answered the challenge first."""
    seeder = make_seeder(registry_htpasswd, auth=("alice", "s3cret"))
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    threads = 16
    for _ in range(3):  # three fresh clients: the race must not be a matter of luck
        client = client_for(registry_htpasswd.url, http_client, username="alice", password="s3cret")
        start = threading.Barrier(threads)

        def head(client: RegistryClient = client, start: threading.Barrier = start) -> ManifestHead | None:
            start.wait()
            return client.head_manifest("shop/api", "1.0")

        with ThreadPoolExecutor(max_workers=threads) as pool:
            heads = list(pool.map(lambda _: head(), range(threads)))
        assert [found.digest if found else None for found in heads] == [pushed.digest] * threads
        assert client.statuses[401] == 0, "no request ended on the challenge"


def test_bearer_token_auth_caches_per_scope(http_client: httpx.Client, make_seeder: SeederFactory) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    with (
        TokenServer(TEST_USERS) as tokens,
        RegistryServer(binary=binary, auth="token", token_realm=tokens.realm) as registry,
    ):
        tokens.registry = registry
        push = registry.mint_token([{"type": "repository", "name": "shop/api", "actions": ["pull", "push"]}])
        seeder = make_seeder(registry, auth=BearerAuth(push))
        seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
        client = client_for(registry.url, http_client, username="alice", password="s3cret")
        assert client.catalog() == ["shop/api"]
        assert client.list_tags("shop/api") == ["1.0"]
        client.head_manifest("shop/api", "1.0")
        client.get_manifest("shop/api", "1.0")
        # one token for the catalog, one for pulls of shop/api, reused for the later calls
        assert sum(tokens.issued.values()) == 2
        anonymous = client_for(registry.url, http_client)
        with pytest.raises(AuthError):
            anonymous.catalog()


def test_retries_429_with_retry_after_then_succeeds(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    with FaultProxy(registry.url) as proxy:
        proxy.inject(("status", 429, {"Retry-After": "1"}), ("status", 503))
        client = client_for(proxy.url, http_client)
        start = time.monotonic()
        assert client.list_tags("shop/api") == ["1.0"]
        assert time.monotonic() - start >= 1.0  # honoured Retry-After
        assert proxy.seen["GET"] == 3


def test_retries_are_bounded(registry: RegistryServer, http_client: httpx.Client) -> None:
    with FaultProxy(registry.url) as proxy:
        proxy.inject(*[("status", 429, {"Retry-After": "0"})] * 10)
        client = client_for(proxy.url, http_client, attempts=3)
        with pytest.raises(RateLimited):
            client.catalog()
        assert proxy.seen["GET"] == 3
        proxy.faults.clear()
        proxy.inject(("status", 500))
        with pytest.raises(UpstreamError):
            client.delete_manifest("shop/api", "sha256:" + "0" * 64)
        assert proxy.seen["DELETE"] == 1  # deletes are never retried blindly


def test_tampered_manifest_is_rejected(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    with FaultProxy(registry.url) as proxy:
        proxy.inject(("tamper",))
        with pytest.raises(BadResponse, match="does not match its digest"):
            client_for(proxy.url, http_client).get_manifest("shop/api", pushed.digest)


def test_registry_down_is_unreachable(http_client: httpx.Client) -> None:
    need_binary("docker-registry", "docker-registry")
    with RegistryServer() as registry:
        url = registry.url
    with pytest.raises(Unreachable, match="unreachable"):
        client_for(url, http_client, attempts=2).catalog()


def test_truncated_reset_and_trickling_answers(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    with FaultProxy(registry.url) as proxy:
        proxy.inject(("truncate", 10), ("reset",), method="GET", path="/v2/shop/api/manifests/")
        client = client_for(proxy.url, http_client)
        assert client.get_manifest("shop/api", "1.0").digest == pushed.digest
        assert proxy.count("GET", "/v2/shop/api/manifests/") == 3  # short body and reset, each retried
        proxy.always(("trickle", 1, 0.05), method="GET", path="/v2/shop/api/manifests/")
        slow = client_for(proxy.url, http_client, attempts=1, request_deadline=0.5)
        with pytest.raises(Unreachable, match="too slow"):
            slow.get_manifest("shop/api", "1.0")


def test_the_raw_transport_serves_direct_urls_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pooled_client(connections=2) as direct:
        assert isinstance(direct, CookielessClient)
        assert direct.raw_transport_for("http://127.0.0.1:5000") is not None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "registry.local")
    with pooled_client(connections=2) as proxied:
        assert isinstance(proxied, CookielessClient)
        # httpx sends what an environment proxy must carry; the raw transport never sees it
        assert proxied.raw_transport_for("http://127.0.0.1:5000") is None
        assert proxied.raw_transport_for("http://registry.local:5000") is not None


def test_the_raw_transport_keeps_its_connection_alive(
    registry: RegistryServer, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    connects: list[tuple[str, str, int]] = []
    connect = http11.connect

    def counted(scheme: str, host: str, port: int, **options: Any) -> tuple[socket.socket, io.BufferedReader]:
        connects.append((scheme, host, port))
        return connect(scheme, host, port, **options)

    monkeypatch.setattr(transport, "connect", counted)
    with pooled_client(connections=2) as raw:
        client = client_for(registry.url, raw)
        for _ in range(3):  # HEAD answers too: a HEAD's Content-Length announces no body to read
            assert client.head_manifest("shop/api", "1.0") is not None
            assert client.get_manifest("shop/api", pushed.digest).digest == pushed.digest
            assert client.head_manifest("shop/api", "nope") is None
        assert client.requests["HEAD"] == 6
    assert len(connects) == 1

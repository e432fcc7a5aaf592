"""Reach: Regent talks only to the registries and Portainer it is configured with. Redirects to other
hosts are refused (blob GETs: only to configured storage hosts, and without our credentials), token
realms must be http(s) and are never followed further, and Portainer redirects are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.security.fake_registry import Answer, FakeRegistry
from tools.errors import AuthError, BadResponse, UpstreamError
from tools.portainer.client import PortainerClient
from tools.registry.client import RegistryClient

CONFIG = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
API_KEY = "ptr_reach_canary_key"


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[FakeRegistry]:
    """Another host: storage, a metadata service, an attacker; it must see only what policy allows."""
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        yield client


def redirect_blob(registry: FakeRegistry, elsewhere: FakeRegistry) -> str:
    digest = elsewhere.blob("app", CONFIG)
    location = elsewhere.url.replace("127.0.0.1", "localhost") + f"/v2/app/blobs/{digest}?sig=abc"
    registry.routes[f"/v2/app/blobs/{digest}"] = Answer(307, headers={"Location": location})
    return digest


def test_blob_redirect_to_an_unlisted_host_is_refused_before_any_request(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    digest = redirect_blob(registry, elsewhere)
    client = RegistryClient(registry.url, http=http, headers={"X-API-Key": API_KEY}, attempts=1)
    with pytest.raises(BadResponse, match="not this registry or one of its blob_redirect_hosts"):
        client.get_blob_json("app", digest)
    assert elsewhere.seen == []


def test_blob_redirect_to_a_listed_storage_host_carries_no_credentials(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    digest = redirect_blob(registry, elsewhere)
    client = RegistryClient(
        registry.url,
        http=http,
        headers={"X-API-Key": API_KEY, "Authorization": "Bearer registry-token"},
        params={"endpointId": "1"},
        blob_redirect_hosts=["localhost"],
        attempts=1,
    )
    assert client.get_blob_json("app", digest)["os"] == "linux"
    (hop,) = elsewhere.seen
    assert "x-api-key" not in hop.headers and "authorization" not in hop.headers
    assert hop.path.endswith("?sig=abc") and "endpointId" not in hop.path
    assert registry.seen[0].headers["x-api-key"] == API_KEY


def test_same_origin_blob_redirect_is_followed_with_its_headers(
    registry: FakeRegistry, http: httpx.Client
) -> None:
    digest = registry.blob("other", CONFIG)
    registry.routes[f"/v2/app/blobs/{digest}"] = Answer(
        302, headers={"Location": f"/v2/other/blobs/{digest}"}
    )
    client = RegistryClient(registry.url, http=http, headers={"X-API-Key": API_KEY}, attempts=1)
    assert client.get_blob_json("app", digest)["architecture"] == "amd64"
    assert [s.headers.get("x-api-key") for s in registry.seen] == [API_KEY, API_KEY]


def test_redirect_loops_and_non_http_targets_end_in_an_error(
    registry: FakeRegistry, http: httpx.Client
) -> None:
    loop = "sha256:" + "1" * 64
    registry.routes[f"/v2/app/blobs/{loop}"] = Answer(302, headers={"Location": f"/v2/app/blobs/{loop}"})
    ftp = "sha256:" + "2" * 64
    registry.routes[f"/v2/app/blobs/{ftp}"] = Answer(302, headers={"Location": "file:///etc/passwd"})
    client = RegistryClient(registry.url, http=http, attempts=1)
    with pytest.raises(UpstreamError, match="302"):
        client.get_blob_json("app", loop)
    assert len(registry.seen) == 6  # the first request and five redirects, then it stops
    with pytest.raises(BadResponse, match="'file' URL; refused"):
        client.get_blob_json("app", ftp)


def test_manifest_and_tag_list_redirects_are_never_followed(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    registry.routes["/v2/app/tags/list"] = Answer(
        302, headers={"Location": elsewhere.url + "/v2/app/tags/list"}
    )
    registry.routes["/v2/app/manifests/1"] = Answer(302, headers={"Location": elsewhere.url + "/x"})
    client = RegistryClient(registry.url, http=http, headers={"X-API-Key": API_KEY}, attempts=1)
    with pytest.raises(UpstreamError, match="302"):
        client.list_tags("app")
    with pytest.raises(UpstreamError, match="302"):
        client.get_manifest("app", "1")
    assert elsewhere.seen == []


def test_httpx_alone_would_forward_a_portainer_key_across_hosts(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    """Why the client follows blob redirects itself: httpx strips only Authorization cross-origin."""
    digest = redirect_blob(registry, elsewhere)
    http.get(
        f"{registry.url}/v2/app/blobs/{digest}",
        headers={"X-API-Key": API_KEY, "Authorization": "Bearer t"},
        follow_redirects=True,
    )
    (hop,) = elsewhere.seen
    assert "authorization" not in hop.headers and hop.headers.get("x-api-key") == API_KEY


@pytest.mark.parametrize("realm", ["file:///etc/passwd", "ftp://127.0.0.1/token", "gopher://x", "/token", ""])
def test_token_realms_must_be_http_urls(registry: FakeRegistry, http: httpx.Client, realm: str) -> None:
    challenge = f'Bearer realm="{realm}",service="registry",scope="repository:app:pull"'
    registry.routes["/v2/app/tags/list"] = Answer(401, headers={"WWW-Authenticate": challenge})
    client = RegistryClient(registry.url, http=http, username="u", password="registry-canary-pw", attempts=1)
    with pytest.raises(AuthError) as caught:
        client.list_tags("app")
    assert "registry-canary-pw" not in str(caught.value)
    assert [s.path for s in registry.seen] == ["/v2/app/tags/list"]


def test_a_token_realm_redirect_is_not_followed_with_the_password(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    challenge = f'Bearer realm="{registry.url}/token",service="registry"'
    registry.routes["/v2/app/tags/list"] = Answer(401, headers={"WWW-Authenticate": challenge})
    registry.routes["/token"] = Answer(302, headers={"Location": elsewhere.url + "/steal"})
    client = RegistryClient(registry.url, http=http, username="u", password="registry-canary-pw", attempts=1)
    with pytest.raises(UpstreamError, match="token service answered 302"):
        client.list_tags("app")
    assert elsewhere.seen == []


def test_portainer_redirects_are_refused_and_the_key_stays_home(
    registry: FakeRegistry, elsewhere: FakeRegistry, http: httpx.Client
) -> None:
    portainer = registry  # a fake server that redirects everything
    for path in ("/api/endpoints", "/api/registries", "/api/auth"):
        portainer.routes[path] = Answer(302, headers={"Location": elsewhere.url + path + f"?k={API_KEY}"})
    with PortainerClient(portainer.url, api_key=API_KEY, http=http, attempts=1) as client:
        with pytest.raises(UpstreamError, match="redirects are refused") as caught:
            client.environments()
        assert API_KEY not in str(caught.value)
        with pytest.raises(UpstreamError, match="redirects are refused"):
            client.registries()
    with (
        PortainerClient(
            portainer.url, username="admin", password="pw-canary", http=http, attempts=1
        ) as client,
        pytest.raises(UpstreamError, match="redirects are refused"),
    ):
        client.registries()
    assert elsewhere.seen == []

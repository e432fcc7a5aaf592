"""PortainerClient's HTTP behaviour against the fake Portainer: auth, paging, retries, error translation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.portainer import FakeEnvironment, FakePortainer, FakeUser
from tests.fakes.portainer_records import STANDARD_USER
from tools.errors import AuthError, ConfigError, NotFound, RateLimited, Unreachable, UpstreamError
from tools.inventory.models import Environment
from tools.portainer.client import PortainerClient

PASSWORD = "canary-portainer-password-a81f"


@pytest.fixture
def fake() -> Iterator[FakePortainer]:
    """A CE fake with 7 Docker environments (no engine behind them), an admin and a standard user."""
    envs = [FakeEnvironment.docker(i, f"env-{i}", socket=None) for i in range(1, 8)]
    users = [FakeUser(1, "admin", password=PASSWORD), FakeUser(2, "dev", role=STANDARD_USER)]
    with FakePortainer(environments=envs, users=users) as server:
        yield server


def api_client(fake: FakePortainer, *, user: int = 0, **options: object) -> PortainerClient:
    """An API-key client with near-instant retries."""
    key = fake.users[user].api_keys[0]
    return PortainerClient(fake.url, api_key=key, max_retry_wait=0.01, **options)  # type: ignore[arg-type]


def test_environments_page_until_the_total(fake: FakePortainer) -> None:
    with api_client(fake, page_size=3) as client:
        envs = client.environments()
    assert [e.id for e in envs] == list(range(1, 8))
    assert fake.count("/api/endpoints", method="GET") == 3
    assert client.requests == {"GET": 3}


def test_bad_api_key_is_an_auth_error_without_the_key(fake: FakePortainer) -> None:
    key = "ptr_" + "wrong" * 8
    with PortainerClient(fake.url, api_key=key) as client, pytest.raises(AuthError) as caught:
        client.environments()
    assert caught.value.status == 401
    assert "Invalid JWT token" in str(caught.value)
    assert key not in str(caught.value) and key not in repr(caught.value.args)
    assert fake.count("/api/endpoints") == 1  # an auth failure is not retried


def test_jwt_login_happens_once_and_keeps_no_cookie(fake: FakePortainer) -> None:
    with httpx.Client() as http:
        client = PortainerClient(fake.url, username="admin", password=PASSWORD, http=http)
        client.environments()
        client.current_user()
        client.stacks()
        assert fake.count("/api/auth") == 1
        assert len(http.cookies) == 0  # the session cookie would trip Portainer's CSRF check
        fake.revoke_tokens()  # as if the 8 h session ran out
        assert client.current_user().username == "admin"
        assert fake.count("/api/auth") == 2
        assert client.requests["POST"] == 2


def test_wrong_password_is_an_auth_error_without_the_password(fake: FakePortainer) -> None:
    wrong = PASSWORD + "-nope"
    with (
        PortainerClient(fake.url, username="admin", password=wrong) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.current_user()
    assert caught.value.status == 422
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)


def test_status_reads_the_edition_and_never_the_server_env(fake: FakePortainer) -> None:
    with api_client(fake) as client:
        status = client.status()
        assert (status.version, status.edition, status.instance_id) == ("2.44.0", "CE", fake.instance_id)
        assert "canary" not in repr(status) + status.model_dump_json()
        fake.fail_next("/api/system/version", times=3, status=500)
        assert client.status().edition == "unknown"  # unreadable version: say so, never guess


def test_server_errors_are_retried_then_succeed(fake: FakePortainer) -> None:
    fake.fail_next("/api/endpoints", times=2, status=502)
    with api_client(fake) as client:
        assert len(client.environments()) == 7
    assert fake.count("/api/endpoints") == 3


def test_rate_limit_and_dropped_connections_are_retried(fake: FakePortainer) -> None:
    fake.fail_next("/api/users/me", status=429, headers={"Retry-After": "0"})
    fake.fail_next("/api/users/me", status=0)  # connection closed without an answer
    with api_client(fake) as client:
        assert client.current_user().username == "admin"
    assert fake.count("/api/users/me") == 3


def test_retries_are_bounded(fake: FakePortainer) -> None:
    fake.fail_next("/api/stacks", times=10, status=503)
    fake.fail_next("/api/users/me", times=10, status=429)
    with api_client(fake) as client:
        with pytest.raises(UpstreamError) as caught:
            client.stacks()
        assert caught.value.status == 503
        with pytest.raises(RateLimited):
            client.current_user()
    assert fake.count("/api/stacks") == fake.count("/api/users/me") == 3


def test_not_found_and_forbidden_are_translated(fake: FakePortainer) -> None:
    with api_client(fake) as client:
        with pytest.raises(NotFound) as missing:
            client.stack_file(99)
        assert "Unable to find a stack" in str(missing.value)
    with api_client(fake, user=1) as client, pytest.raises(AuthError) as denied:
        client.registries()  # CE lists registries to administrators only
    assert denied.value.status == 403


def test_portainer_down_is_unreachable(fake: FakePortainer) -> None:
    url, key = fake.url, fake.admin.api_keys[0]
    fake.stop()
    client = PortainerClient(url, api_key=key, max_retry_wait=0.01)
    with client, pytest.raises(Unreachable) as caught:
        client.environments()
    assert key not in str(caught.value)
    assert client.requests == {"GET": 3}


def test_failures_inside_an_environment_are_collected_not_raised(fake: FakePortainer) -> None:
    env = Environment(id=1, name="env-1", kind="docker")
    with api_client(fake) as client:
        deployments, errors = client.deployments(env)  # no engine behind env-1: the proxy answers 502
    assert deployments == []
    assert len(errors) == 2
    assert errors[0].startswith("environment env-1: containers: Portainer GET /api/endpoints/1/docker/")
    assert errors[1].startswith("environment env-1: services: Portainer GET /api/endpoints/1/docker/info")


def test_configuration_is_checked_up_front() -> None:
    with pytest.raises(ConfigError):
        PortainerClient("portainer.example.com", api_key="ptr_x")
    with pytest.raises(ConfigError):
        PortainerClient("https://portainer.example.com", username="admin")


def test_fake_follows_the_real_auth_and_routing_rules(fake: FakePortainer) -> None:
    key = {"X-API-Key": fake.admin.api_keys[0]}
    both = key | {"Authorization": "Bearer x"}
    assert httpx.get(f"{fake.url}/api/users/me", headers=both).status_code == 403
    missing = httpx.get(f"{fake.url}/api/users/me")
    assert (missing.status_code, missing.json()["message"]) == (401, "A valid authorization token is missing")
    unknown = httpx.get(f"{fake.url}/api/registries/1/v2/_catalog", headers=key)
    assert (unknown.status_code, unknown.text) == (404, "404 page not found\n")
    plain = httpx.get(f"{fake.url}/api/endpoints", headers=key, params={"types": "5"})
    assert len(plain.json()) == 7  # without the [] suffix the filter is ignored, as in Portainer
    assert httpx.get(f"{fake.url}/api/endpoints", headers=key, params={"types[]": "5"}).json() == []

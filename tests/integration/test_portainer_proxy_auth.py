"""What reaches a registry through Portainer BE's registry proxy (design invariant 9).

The fake BE proxy behaves like BE-old: it deletes only the `Authorization` header and forwards every other
one (an `X-API-Key` included: whether current BE does is unverified, so the worst case is assumed). A
recording proxy between the fake Portainer and the real registry keeps every header the registry got.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import build_app
from bot.config import Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec
from tests.conftest import TEST_USERS, SeederFactory
from tests.fakes.portainer import FakePortainer, FakeRegistry
from tests.fakes.recording_proxy import RecordingProxy
from tools.errors import RegentError

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
SERVICE_PASSWORD = "canary-service-account-pw-3b9d"


@pytest.fixture
def recorded(registry_htpasswd: RegistryServer, make_seeder: SeederFactory) -> Iterator[RecordingProxy]:
    """The real registry with one image, behind a proxy that records every request's headers."""
    user, password = next(iter(TEST_USERS.items()))
    make_seeder(registry_htpasswd, auth=(user, password)).push_image(ImageSpec("team/app", "1", created=NOW))
    with RecordingProxy(registry_htpasswd.url) as proxy:
        yield proxy


def read_through_portainer(
    recorded: RecordingProxy, tmp_path: Path, *, proxy_auth: str | None
) -> tuple[FakePortainer, list[str], list[str]]:
    """Build Regent's sources against a BE fake whose registry is `recorded`; read each registry once."""
    user, password = next(iter(TEST_USERS.items()))
    record = FakeRegistry(1, "private", recorded.url, username=user, password=password)
    with FakePortainer(edition="BE", registries=[record]) as portainer:
        portainer.admin.password = SERVICE_PASSWORD
        config: dict[str, object] = {"url": portainer.url, "registry_scheme": "http"}
        if proxy_auth is not None:
            config["registry_proxy_auth"] = proxy_auth
        secrets = Secrets.model_validate(
            {
                "portainer_api_key": portainer.admin.api_keys[0],
                "portainer_proxy_username": "admin",
                "portainer_proxy_password": SERVICE_PASSWORD,
            }
        )
        app = build_app(
            settings=Settings.model_validate({"portainer": config}), secrets=secrets, state_dir=tmp_path
        )
        sources = app.sources()
        catalogs, errors = [], list(sources.errors)
        try:
            for target in sources.registries:
                try:
                    catalogs.extend(target.client.catalog())
                except RegentError as exc:
                    errors.append(str(exc))
        finally:
            sources.close()
            app.close()
    return portainer, catalogs, errors


def test_by_default_no_portainer_credential_reaches_the_registry(
    recorded: RecordingProxy, tmp_path: Path
) -> None:
    portainer, catalogs, errors = read_through_portainer(recorded, tmp_path, proxy_auth=None)
    assert catalogs == ["team/app"] and errors == []
    assert portainer.count("/api/registries/1/v2/*") >= 1 and portainer.count("/api/auth") == 1
    seen = recorded.seen_text()
    assert recorded.headers and not any("x-api-key" in headers for headers in recorded.headers)
    assert portainer.admin.api_keys[0] not in seen and SERVICE_PASSWORD not in seen
    assert "Bearer" not in seen  # the login's JWT sat in Authorization, which BE strips
    # What does arrive is the registry's own credential, injected by Portainer.
    assert {h.get("authorization", "").split(" ")[0] for h in recorded.headers} == {"Basic"}


def test_the_api_key_through_the_proxy_is_an_explicit_choice_and_does_reach_the_registry(
    recorded: RecordingProxy, tmp_path: Path
) -> None:
    """Why the default is a login: with `registry_proxy_auth: api-key` the key arrives at the registry."""
    portainer, catalogs, _ = read_through_portainer(recorded, tmp_path, proxy_auth="api-key")
    assert catalogs == ["team/app"]
    assert all(headers.get("x-api-key") == portainer.admin.api_keys[0] for headers in recorded.headers)


def test_direct_never_uses_the_proxy(recorded: RecordingProxy, tmp_path: Path) -> None:
    portainer, _, errors = read_through_portainer(recorded, tmp_path, proxy_auth="direct")
    assert portainer.count("/api/registries/1/v2/*") == 0
    assert recorded.paths and "401" in errors[0]  # no credentials under registries: for it
    assert portainer.admin.api_keys[0] not in recorded.seen_text()

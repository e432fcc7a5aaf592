"""Shared fixtures: the real parts (docker-registry, dockerd), the image seeder and a state dir.

Real parts start per test (registry, ~40 ms) or once per session (dockerd, ~0.4 s). Locally a missing
binary skips the test with the apt package to install; with REGENT_REQUIRE_REAL=1 (CI) it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.demo.binaries import require_binary
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from bot.errors import MissingBinary

REQUIRE_REAL_ENV = "REGENT_REQUIRE_REAL"
TEST_USERS = {"alice": "s3cret"}

SeederFactory = Callable[..., Seeder]


def need_binary(name: str, apt_package: str) -> str:
    """Path of a binary a test needs: skip when missing, fail instead when REGENT_REQUIRE_REAL=1."""
    try:
        return require_binary(name, apt_package)
    except MissingBinary as error:
        if os.environ.get(REQUIRE_REAL_ENV) == "1":
            pytest.fail(f"{error} ({REQUIRE_REAL_ENV}=1: a missing real part is a failure, not a skip)")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def http_client() -> Iterator[httpx.Client]:
    """One httpx client for the session: building one costs ~0.3 s CPU."""
    with httpx.Client(timeout=60) as client:
        yield client


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    """A fresh docker-registry without auth, on a free loopback port."""
    binary = need_binary("docker-registry", "docker-registry")
    with RegistryServer(binary=binary) as server:
        yield server


@pytest.fixture
def registry_htpasswd() -> Iterator[RegistryServer]:
    """A fresh docker-registry with htpasswd (bcrypt) auth for alice / s3cret."""
    binary = need_binary("docker-registry", "docker-registry")
    need_binary("htpasswd", "apache2-utils")
    with RegistryServer(binary=binary, auth="htpasswd", users=TEST_USERS) as server:
        yield server


@pytest.fixture
def registry_token() -> Iterator[RegistryServer]:
    """A fresh docker-registry with token auth; mint tokens with `registry_token.mint_token(...)`."""
    binary = need_binary("docker-registry", "docker-registry")
    with RegistryServer(binary=binary, auth="token") as server:
        yield server


@pytest.fixture(scope="session")
def dockerd() -> Iterator[DockerDaemon]:
    """One private dockerd per session; every loopback registry counts as insecure (plain HTTP).

    Tests remove the containers they create; stop() force-removes any left at the end.
    """
    binary = need_binary("dockerd", "docker.io")
    need_binary("containerd", "containerd")
    need_binary("runc", "runc")
    with DockerDaemon(binary=binary, insecure_registries=["127.0.0.0/8"]) as daemon:
        yield daemon


@pytest.fixture
def make_seeder(http_client: httpx.Client) -> Iterator[SeederFactory]:
    """Factory: `make_seeder(registry, auth=None) -> Seeder`, sharing the session HTTP client."""
    made: list[Seeder] = []

    def make(server: RegistryServer, *, auth: httpx.Auth | tuple[str, str] | None = None) -> Seeder:
        seeder = Seeder(server.url, client=http_client, auth=auth)
        made.append(seeder)
        return seeder

    yield make
    for seeder in made:
        seeder.close()


@pytest.fixture
def seeder(make_seeder: SeederFactory, registry: RegistryServer) -> Seeder:
    """A Seeder for the `registry` fixture."""
    return make_seeder(registry)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory, also exported as REGENT_STATE_DIR."""
    path = tmp_path / "state"
    path.mkdir()
    monkeypatch.setenv("REGENT_STATE_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no planted secret in what the fake LLM and Slack got, or in audit logs and logs."""
    from tests.fakes.openai_server import FakeOpenAI
    from tests.fakes.slack_api import FakeSlackApi
    from tests.leak_guard import llm_leaks, slack_leaks, state_leaks

    llm_before, slack_before = len(FakeOpenAI.created), len(FakeSlackApi.created)
    # Ask for tmp_path first so it outlives this fixture's teardown.
    tmp: Path | None = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if request.node.get_closest_marker("plants_secrets"):
        return  # the test writes secrets into a sink on purpose, to check the scan itself
    leaks = {
        "LLM requests": llm_leaks(r for fake in FakeOpenAI.created[llm_before:] for r in fake.requests),
        "Slack calls": slack_leaks(
            c for fake in FakeSlackApi.created[slack_before:] for c in fake.state.calls
        ),
    }
    if tmp is not None:
        leaks["state (audit log, regent.log)"] = state_leaks(tmp)
    del FakeOpenAI.created[llm_before:], FakeSlackApi.created[slack_before:]
    found = {where: secrets for where, secrets in leaks.items() if secrets}
    assert not found, f"secrets leaked (invariant 4): {found}"

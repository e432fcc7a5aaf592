"""The module-wide estate: built once (seed, deploy, crawl, scan), copied per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from tests.conftest import need_binary
from tests.vulns.estate import Estate, build_estate


@pytest.fixture(scope="package")
def estate(
    dockerd: DockerDaemon, http_client: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Estate]:
    """Registry + dockerd + fake Portainer, crawled, with report files written (read-only for tests)."""
    need_binary("busybox", "busybox-static")
    binary = need_binary("docker-registry", "docker-registry")
    with RegistryServer(binary=binary) as registry:
        yield build_estate(registry, dockerd, http_client, tmp_path_factory.mktemp("estate"))


@pytest.fixture
def state(estate: Estate, tmp_path: Path) -> Path:
    """A private copy of the crawled state directory."""
    return estate.fresh_state(tmp_path / "state")

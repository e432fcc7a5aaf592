"""Faults between Regent and Portainer (the fake Portainer over the real dockerd): retried within bounds, an
environment it cannot read is reported by `regent inventory` and listed by the digest under "Not seen"."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder
from tests.cli import run_regent
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeEnvironment, FakeUser, make_pod

pytestmark = pytest.mark.real

API_KEY = "ptr_reliability-test-key-0001"
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
PORTAINER_ATTEMPTS = 3  # PortainerClient's default


def test_portainer_faults_are_retried_bounded_and_reported(
    registry: RegistryServer, seeder: Seeder, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    pod = make_pod("api-0", namespace="shop", containers=[("api", f"{registry.host}/shop/api:1.0", "")])
    fake = FakePortainer(
        users=[FakeUser(1, "admin", api_keys=(API_KEY,))],
        environments=[
            FakeEnvironment.docker(1, "prod-docker", socket=str(dockerd.socket_path)),
            FakeEnvironment.kubernetes(2, "prod-k8s", pods=[pod]),
        ],
    )
    with fake, FaultProxy(fake.url) as proxy:
        proxy.inject(("status", 503), method="GET", path="/api/endpoints?")
        proxy.inject(
            ("status", 429, {"Retry-After": "1"}), method="GET", path="/api/endpoints/1/docker/containers"
        )
        proxy.inject(("reset",), method="GET", path="/api/stacks")
        proxy.always(("status", 502), method="GET", path="/api/endpoints/2/kubernetes/")
        start = time.monotonic()
        done = run_regent(
            "inventory",
            "--portainer",
            proxy.url,
            "--registry",
            registry.url,
            "--json",
            state=tmp_path,
            env={"PORTAINER_API_KEY": API_KEY},
        )
        elapsed = time.monotonic() - start
        assert proxy.count("GET", "/api/endpoints/2/kubernetes/") == PORTAINER_ATTEMPTS
        assert proxy.count("GET", "/api/endpoints?") == 2
        assert proxy.count("GET", "/api/endpoints/1/docker/containers") == 2
        total = sum(proxy.seen.values())
    assert done.returncode == 1, done.stderr  # something could not be read: not a clean run
    out = json.loads(done.stdout)
    assert {e["name"] for e in out["environments"]} == {"prod-docker", "prod-k8s"}
    (error,) = out["errors"]
    assert error.startswith("environment prod-k8s: pods:") and "502" in error
    assert out["registries"][0]["tags"] == 1 and not out["registries"][0]["partial"]
    assert elapsed >= 1.0 and total < 20  # Retry-After honoured; nothing loops
    assert API_KEY not in done.stdout + done.stderr and "Traceback" not in done.stderr

    digest = run_regent("digest", "--no-chart", "--no-summary", state=tmp_path)
    assert digest.returncode == 0, digest.stderr
    assert "Incomplete inventory: 1 read errors" in digest.stdout
    assert "Not seen" in digest.stdout and "environment prod-k8s: pods:" in digest.stdout

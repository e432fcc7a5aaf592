"""`regent inventory --json` with a Portainer CE whose Docker Hub record (type 6) points at the fake Hub:
exact counts and bytes of the real registry behind it, and the Hub's clocks and sizes with their origins."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.dockerhub_api import FakeDockerHubApi
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.integration.registries.clocks_shown import assert_clocks_shown
from tests.integration.registries.dockerhub_support import (
    KEEP_LATEST,
    PAT,
    assert_follows_spec,
    days_ago,
    layer_bytes,
    seed,
    stored_bytes,
)
from tools.registry.client import RegistryClient

API_KEY = "ptr_dockerhub-e2e-key-000001"
DOCKER_HUB = 6  # Portainer's registry type (api/portainer.go)


@pytest.fixture
def hub(registry: RegistryServer) -> Iterator[FakeDockerHubApi]:
    with FakeDockerHubApi(registry.url, users={"acme": PAT}) as fake:
        yield fake


def portainer(hub: FakeDockerHubApi, *, username: str = "acme", password: str = PAT) -> FakePortainer:
    record = FakeRegistry(7, "hub", hub.url, type=DOCKER_HUB, username=username, password=password)
    return FakePortainer(edition="CE", users=[FakeUser(1, "admin", api_keys=(API_KEY,))], registries=[record])


def inventory(config: Path, state: Path, env: dict[str, str], *, code: int = 0) -> dict[str, Any]:
    done = run_regent("inventory", "--json", state=state, env={"REGENT_CONFIG": str(config), **env})
    assert done.returncode == code, done.stderr
    assert PAT not in done.stdout + done.stderr and API_KEY not in done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_inventory_through_portainer_reports_hub_counts_bytes_and_clocks(
    hub: FakeDockerHubApi, seeder: Seeder, tmp_path: Path
) -> None:
    pushed = seed(seeder)
    hub.set_clock("acme/app", "1.0", pushed=days_ago(30), pulled=days_ago(2))
    hub.set_clock("acme/app", "latest", pushed=days_ago(10), pulled=None)
    hub.set_clock("acme-ci/build", "main", pushed=days_ago(400), pulled=days_ago(300))
    config = tmp_path / "regent.yml"
    with portainer(hub) as fake:
        # Regent's entry for the record's name lends credentials and an organisation; the kind still
        # comes from Portainer's record (type 6), which the entry leaves unset
        config.write_text(
            f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n"
            f"registries:\n  - name: hub\n    url: {hub.url}\n"
            "    username_env: HUB_USER\n    password_env: HUB_TOKEN\n    extra: {namespaces: acme-ci}\n"
        )
        out = inventory(
            config, tmp_path, {"PORTAINER_API_KEY": API_KEY, "HUB_USER": "acme", "HUB_TOKEN": PAT}
        )

    (registry,) = out["registries"]
    assert registry["kind"] == "dockerhub" and not registry["errors"]
    listed = pushed.listed()
    assert (registry["repositories"], registry["tags"], registry["manifests"]) == (3, 7, len(listed))
    assert registry["stored_bytes"] == stored_bytes(listed)
    assert (registry["push_clock"], registry["pull_clock"]) == (
        "Docker Hub tag_last_pushed",
        "Docker Hub tag_last_pulled",
    )
    native = registry["native"]
    assert set(native) == {p.digest for p in listed}
    assert {d: n["size"] for d, n in native.items()} == {p.digest: layer_bytes(p) for p in listed}
    current, build = native[pushed.current.digest], native[pushed.build.digest]
    assert dt.datetime.fromisoformat(current["pushed"]) == days_ago(10)  # the newest of its two tags
    assert dt.datetime.fromisoformat(current["last_pulled"]) == days_ago(2)
    assert dt.datetime.fromisoformat(build["last_pulled"]) == days_ago(300)
    assert_clocks_shown(
        tmp_path,
        digest=pushed.build.digest,
        repository="acme-ci/build",
        tag="main",
        pushed=days_ago(400),
        push_origin="Docker Hub tag_last_pushed",
        pull_origin="Docker Hub tag_last_pulled",
        pulled=days_ago(300),
    )
    assert hub.front.count("GET", "/v2/_catalog") == 0
    assert_follows_spec(hub)


def test_a_portainer_hub_record_alone_is_read_with_the_login_portainer_stores(
    hub: FakeDockerHubApi, seeder: Seeder, tmp_path: Path
) -> None:
    pushed = seed(seeder)
    config = tmp_path / "regent.yml"
    with portainer(hub) as fake:
        # no entry in Regent's config: CE lists the record's username and token to an administrator
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        out = inventory(config, tmp_path, {"PORTAINER_API_KEY": API_KEY})
    (registry,) = out["registries"]
    assert registry["kind"] == "dockerhub" and not registry["errors"]
    # the username's own namespace only: an organisation (acme-ci) needs `extra: {namespaces: …}`
    assert registry["repositories"] == len(
        {p.repository for p in pushed.listed() if p.repository.startswith("acme/")}
    )
    assert hub.front.count("GET", "/v2/_catalog") == 0


def test_a_portainer_hub_record_without_a_login_says_what_is_missing(
    hub: FakeDockerHubApi, seeder: Seeder, tmp_path: Path
) -> None:
    seed(seeder)
    config = tmp_path / "regent.yml"
    with portainer(hub, username="", password="") as fake:
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        out = inventory(config, tmp_path, {"PORTAINER_API_KEY": API_KEY}, code=1)  # 1: partial
    (registry,) = out["registries"]
    assert registry["kind"] == "dockerhub"  # from Portainer's type alone: the URL is a loopback one
    assert registry["partial"] and "Docker Hub has no catalog" in registry["errors"][0]
    assert hub.front.count("GET", "/v2/_catalog") == 0


def test_plan_and_apply_delete_through_the_hub_tag_api_once(
    hub: FakeDockerHubApi, seeder: Seeder, registry: RegistryServer, tmp_path: Path
) -> None:
    pushed = seed(seeder)
    policy = tmp_path / "tidy.yml"
    policy.write_text(KEEP_LATEST)
    config = tmp_path / "regent.yml"
    env = {"REGENT_CONFIG": str(config), "PORTAINER_API_KEY": API_KEY, "HUB_USER": "acme", "HUB_TOKEN": PAT}
    with portainer(hub) as fake:
        config.write_text(
            f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n"
            f"registries:\n  - name: hub\n    url: {hub.url}\n    kind: dockerhub\n"
            "    username_env: HUB_USER\n    password_env: HUB_TOKEN\n"
        )
        planned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
        assert planned.returncode == 0, planned.stderr
        plan = json.loads(planned.stdout)
        assert {item["digest"] for item in plan["items"]} == {pushed.old.digest, pushed.oldest.digest}
        applied = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
        assert applied.returncode == 0, applied.stderr
        deletes = sorted(p for m, p in hub.front.seen if m == "DELETE")
        again = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
        replanned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
        assert replanned.returncode == 0, replanned.stderr
        replan = json.loads(replanned.stdout)
        reapplied = run_regent("apply", replan["plan_id"], "--yes", state=tmp_path, env=env)
    assert deletes == sorted(
        [
            "/v2/repositories/acme/app/tags/0.8/",
            "/v2/repositories/acme/app/tags/0.9/",
            "/v2/repositories/acme/app/tags/0.9.1/",
            f"/v2/acme/app/manifests/{pushed.old.digest}",
            f"/v2/acme/app/manifests/{pushed.oldest.digest}",
        ]
    )
    assert "already" in again.stdout + again.stderr
    # The two digests were tagged in an earlier snapshot, but Regent's own run deleted them: history does
    # not offer them again as untagged leftovers, so a new plan is empty.
    assert replan["items"] == []
    assert reapplied.returncode == 0, reapplied.stderr
    assert sorted(p for m, p in hub.front.seen if m == "DELETE") == deletes  # the later runs sent none
    real = RegistryClient(registry.url, http=httpx.Client())
    assert sorted(real.list_tags("acme/app")) == ["1.0", "latest"]
    assert PAT not in applied.stdout + applied.stderr + again.stdout + again.stderr

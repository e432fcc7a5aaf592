"""`regent inventory --json` with a Portainer CE whose Azure record (type 2) points at the fake ACR: exact
counts and bytes of the real registry behind it, and ACR's createdTime and imageSize with their origin."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.acr import FakeAcr
from tests.fakes.acr_spec import spec_errors
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.integration.registries.clocks_shown import assert_clocks_shown

API_KEY = "ptr_acr-e2e-key-0000000001"
AZURE = 2  # Portainer's registry type (api/portainer.go)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def acr(registry: RegistryServer) -> Iterator[FakeAcr]:
    with FakeAcr(registry.url).running() as fake:
        yield fake
        problems = [p for a in fake.answers for p in spec_errors(a.operation, a.status, a.body)]
        assert not problems, problems


def portainer(acr: FakeAcr, *, password: str | None = None) -> FakePortainer:
    stored = acr.password if password is None else password
    record = FakeRegistry(4, "acr", acr.url, type=AZURE, username=acr.username, password=stored)
    return FakePortainer(edition="CE", users=[FakeUser(1, "admin", api_keys=(API_KEY,))], registries=[record])


def inventory(config: Path, state: Path, env: dict[str, str], *, code: int = 0) -> dict[str, Any]:
    done = run_regent("inventory", "--json", state=state, env={"REGENT_CONFIG": str(config), **env})
    assert done.returncode == code, done.stderr
    assert "acr-s3cret" not in done.stdout + done.stderr and API_KEY not in done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def image(repository: str, tag: str, seed: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=seed, own_layers=2)


def test_inventory_through_portainer_reports_acr_counts_bytes_and_clocks(
    acr: FakeAcr, seeder: Seeder, tmp_path: Path
) -> None:
    current = seeder.push_image(image("team/app", "1.0", "current"))
    seeder.tag("team/app", current.digest, "latest")
    old = seeder.push_image(image("team/app", "0.9", "old"))
    web = seeder.push_image(image("web", "1", "web"))
    created = {
        current.digest: NOW - dt.timedelta(days=3),
        old.digest: NOW - dt.timedelta(days=120),
        web.digest: NOW - dt.timedelta(days=45),
    }
    acr.created.update(created)
    config = tmp_path / "regent.yml"
    with portainer(acr) as fake:
        # Regent's entry for the record's name holds the credentials (they win over Portainer's stored ones)
        config.write_text(
            f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n"
            f"registries:\n  - name: acr\n    url: {acr.url}\n    kind: azure\n"
            "    username_env: ACR_USER\n    password_env: ACR_PASSWORD\n"
        )
        env = {"PORTAINER_API_KEY": API_KEY, "ACR_USER": acr.username, "ACR_PASSWORD": acr.password}
        out = inventory(config, tmp_path, env)

    (registry,) = out["registries"]
    assert registry["kind"] == "azure" and not registry["errors"]
    expected = seeder.expected()
    assert (registry["repositories"], registry["tags"], registry["manifests"]) == (2, 4, 3)
    assert registry["stored_bytes"] == expected.stored_bytes
    assert (registry["push_clock"], registry["pull_clock"]) == ("ACR createdTime", None)
    native = registry["native"]
    assert set(native) == set(created)
    for pushed in (current, old, web):
        entry = native[pushed.digest]
        assert dt.datetime.fromisoformat(entry["pushed"]) == created[pushed.digest]
        assert entry["size"] == pushed.total_bytes - pushed.manifest_size
        assert entry.get("last_pulled") is None
    assert_clocks_shown(
        tmp_path,
        digest=old.digest,
        repository="team/app",
        tag="0.9",
        pushed=created[old.digest],
        push_origin="ACR createdTime",
        pull_origin=None,
    )


def test_an_azure_record_without_regent_credentials_uses_the_login_portainer_stores(
    acr: FakeAcr, seeder: Seeder, tmp_path: Path
) -> None:
    seeder.push_image(image("team/app", "1.0", "current"))
    config = tmp_path / "regent.yml"
    with portainer(acr) as fake:
        # CE lists every record with its password to an administrator (registry_list.go:30-39)
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        out = inventory(config, tmp_path, {"PORTAINER_API_KEY": API_KEY})
    (registry,) = out["registries"]
    assert registry["kind"] == "azure"  # from Portainer's type alone: the URL is a loopback one
    assert not registry["errors"] and registry["tags"] == 1


def test_an_azure_record_with_a_wrong_stored_password_says_the_token_was_refused(
    acr: FakeAcr, seeder: Seeder, tmp_path: Path
) -> None:
    seeder.push_image(image("team/app", "1.0", "current"))
    config = tmp_path / "regent.yml"
    with portainer(acr, password="not-the-acr-password") as fake:
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        out = inventory(config, tmp_path, {"PORTAINER_API_KEY": API_KEY}, code=1)  # 1: partial
    (registry,) = out["registries"]
    assert registry["kind"] == "azure"
    assert registry["partial"] and "token service rejected the credentials" in registry["errors"][0]

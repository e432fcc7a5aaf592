"""`regent inventory --json` with a Portainer CE whose Custom record (type 3; Portainer has no GAR type)
points at the fake GAR host: exact counts and bytes of the real registry behind it, and GAR's
timeUploadedMs and imageSizeBytes with their origin."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.gar import FakeGar
from tests.fakes.gar_spec import tag_list_errors
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.integration.registries.clocks_shown import assert_clocks_shown

API_KEY = "ptr_gar-e2e-key-0000000001"
CUSTOM = 3  # Portainer's registry type (api/portainer.go)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def gar(registry: RegistryServer) -> Iterator[FakeGar]:
    with FakeGar(registry.url).running() as fake:
        yield fake
        problems = [p for body in fake.tag_lists for p in tag_list_errors(body)]
        assert not problems, problems


def image(repository: str, tag: str | None, seed: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=seed, own_layers=2)


def test_inventory_through_portainer_reports_gar_counts_bytes_and_clocks(
    gar: FakeGar, seeder: Seeder, tmp_path: Path
) -> None:
    current = seeder.push_image(image("project/app", "1.0", "current"))
    seeder.tag("project/app", current.digest, "latest")
    old = seeder.push_image(image("project/app", "0.9", "old"))
    amd = image("project/multi", None, "amd")
    multi = seeder.push_index("project/multi", "2", [amd, replace(amd, platform=("linux", "arm64"))])
    uploaded = {
        current.digest: NOW - dt.timedelta(days=3),
        old.digest: NOW - dt.timedelta(days=120),
        multi.digest: NOW - dt.timedelta(days=45),
        **{child.digest: NOW - dt.timedelta(days=45, seconds=1) for child in multi.children},
    }
    gar.uploaded.update(uploaded)
    record = FakeRegistry(5, "gar", gar.url, type=CUSTOM, username="_json_key", password=gar.json_key())
    config = tmp_path / "regent.yml"
    with FakePortainer(
        edition="CE", users=[FakeUser(1, "admin", api_keys=(API_KEY,))], registries=[record]
    ) as fake:
        config.write_text(
            f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n"
            f"registries:\n  - name: gar\n    url: {gar.url}\n    kind: gar\n"
            "    username_env: GAR_USER\n    password_env: GAR_KEY\n"
        )
        env = {"PORTAINER_API_KEY": API_KEY, "GAR_USER": "_json_key", "GAR_KEY": gar.json_key()}
        done = run_regent("inventory", "--json", state=tmp_path, env={"REGENT_CONFIG": str(config), **env})
    assert done.returncode == 0, done.stderr
    assert gar.json_key() not in done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout)

    (registry,) = out["registries"]
    assert registry["kind"] == "gar" and not registry["errors"]
    expected = seeder.expected()
    assert (registry["repositories"], registry["tags"]) == (2, 4)
    assert registry["manifests"] == expected.manifests == 5  # two images, an index and its two children
    assert registry["stored_bytes"] == expected.stored_bytes
    assert (registry["push_clock"], registry["pull_clock"]) == ("GAR timeUploadedMs", None)
    native = registry["native"]
    assert set(native) == set(uploaded)
    for digest, moment in uploaded.items():
        assert dt.datetime.fromisoformat(native[digest]["pushed"]) == moment
        assert native[digest].get("last_pulled") is None
    for pushed in (current, old, *multi.children):
        assert native[pushed.digest]["size"] == pushed.total_bytes - pushed.manifest_size
    assert_clocks_shown(
        tmp_path,
        digest=old.digest,
        repository="project/app",
        tag="0.9",
        pushed=uploaded[old.digest],
        push_origin="GAR timeUploadedMs",
        pull_origin=None,
    )

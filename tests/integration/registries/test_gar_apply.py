"""`regent plan` then `regent apply --yes` on a configured GAR host: the deletes go through the adapter's
native path (each tag first, then the digest, which GAR refuses while tags remain), re-validated, and a
second apply sends nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.gar import FakeGar

NOW = dt.datetime.now(dt.UTC)
POLICY = """\
policies:
  - name: cleanup
    repositories: ["**"]
    keep:
      - tags: ["current"]
    delete:
      - older_than_days: 90
"""


@pytest.fixture
def gar(registry: RegistryServer) -> Iterator[FakeGar]:
    with FakeGar(registry.url).running() as fake:
        yield fake


def test_plan_and_apply_delete_tags_first_on_gar(gar: FakeGar, seeder: Seeder, tmp_path: Path) -> None:
    def push(tag: str, days: int) -> str:
        created = NOW - dt.timedelta(days=days)
        image = ImageSpec(repository="proj/images/app", tag=tag, created=created, extra_layer_seed=tag)
        digest = seeder.push_image(image).digest
        gar.uploaded[digest] = created
        return digest

    old = push("old", 200)
    seeder.tag("proj/images/app", old, "old-alias")
    current = push("current", 200)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    config = tmp_path / "regent.yml"
    config.write_text(
        f"registries:\n  - name: gar\n    url: {gar.url}\n    kind: gar\n"
        "    username_env: GAR_USER\n    password_env: GAR_KEY\n"
    )
    env = {"REGENT_CONFIG": str(config), "GAR_USER": "_json_key", "GAR_KEY": gar.json_key()}
    planned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(i["digest"], sorted(i["tags"])) for i in plan["items"]] == [(old, ["old", "old-alias"])]

    applied = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
    assert applied.returncode == 0, applied.stderr
    assert gar.json_key() not in applied.stdout + applied.stderr
    deletes = [path for method, path in gar.front.seen if method == "DELETE"]
    prefix = "/v2/proj/images/app/manifests/"
    assert {prefix + "old", prefix + "old-alias"} <= set(deletes)
    assert deletes[-1] == prefix + old  # the digest last, after its tags
    assert gar.view.resolve("proj/images/app", old) is None
    assert gar.view.resolve("proj/images/app", "current") == current

    sent = gar.front.count("DELETE")
    again = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
    assert "already executed" in again.stdout and gar.front.count("DELETE") == sent

"""`regent plan` then `regent apply --yes` on a configured ACR: the deletes go through the adapter's native
path (tags through /acr/v1, then the digest), re-validated, and a second apply sends nothing."""

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
from tests.fakes.acr import FakeAcr

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
def acr(registry: RegistryServer) -> Iterator[FakeAcr]:
    with FakeAcr(registry.url).running() as fake:
        yield fake


def test_plan_and_apply_delete_through_acr(acr: FakeAcr, seeder: Seeder, tmp_path: Path) -> None:
    def push(tag: str, days: int) -> str:
        created = NOW - dt.timedelta(days=days)
        image = ImageSpec(repository="team/app", tag=tag, created=created, extra_layer_seed=tag)
        digest = seeder.push_image(image).digest
        acr.created[digest] = created
        return digest

    old = push("old", 200)
    seeder.tag("team/app", old, "old-alias")
    current = push("current", 200)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    config = tmp_path / "regent.yml"
    config.write_text(
        f"registries:\n  - name: acr\n    url: {acr.url}\n    kind: azure\n"
        "    username_env: ACR_USER\n    password_env: ACR_PASSWORD\n"
    )
    env = {"REGENT_CONFIG": str(config), "ACR_USER": acr.username, "ACR_PASSWORD": acr.password}
    planned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(i["digest"], sorted(i["tags"])) for i in plan["items"]] == [(old, ["old", "old-alias"])]

    applied = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
    assert applied.returncode == 0, applied.stderr
    assert acr.password not in applied.stdout + applied.stderr
    tag_deletes = [a.status for a in acr.answers if a.operation == "ContainerRegistry_DeleteTag"]
    assert tag_deletes == [202, 202]
    assert acr.front.count("DELETE", f"/v2/team/app/manifests/{old}") >= 1
    assert acr.view.resolve("team/app", old) is None and acr.view.resolve("team/app", "current") == current

    sent = acr.front.count("DELETE")
    again = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
    assert "already executed" in again.stdout and acr.front.count("DELETE") == sent

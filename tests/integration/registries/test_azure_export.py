"""`acr-purge` export: the commands, tasks and locks for a crawled ACR, and where acr purge and Regent differ.

The snapshot comes from a real crawl of the fake ACR (createdTime through the adapter); the commands'
effect is simulated over it and compared with Regent's plan for the same policies.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.acr import FakeAcr
from tests.integration.registries.apply_support import push_dated
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import Deployment, InventorySnapshot, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.acr_purge import NO_TAG, commands_for, re2_union
from tools.policy.export.base import ExportRequest, exporter
from tools.policy.loader import parse_policies
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.select import build_registry

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
POLICIES = """
protected_tags: ["prod"]
policies:
  - name: team cleanup
    repositories: ["team/**"]
    keep:
      - tags: ["stable*"]
      - semver: {per: minor, most_recent: 1}
    delete:
      - older_than_days: 90
"""


@pytest.fixture
def acr(registry: RegistryServer) -> Iterator[FakeAcr]:
    with FakeAcr(registry.url).running() as fake:
        yield fake


def test_acr_purge_commands_locks_and_differences(
    acr: FakeAcr, seeder: Seeder, http_client: httpx.Client
) -> None:
    def push(repository: str, tag: str, days: int) -> str:
        created = NOW - dt.timedelta(days=days)  # ACR's push time and the build time agree here
        return push_dated(seeder, acr.created, repository, tag, created, f"{repository}{tag}")

    old = push("team/app", "old", 200)
    stable = push("team/app", "stable-1", 200)
    prod = push("team/app", "prod", 200)
    fresh = push("team/app", "fresh", 5)
    running = push("team/app", "running", 200)
    other = push("other/svc", "old", 200)
    client = build_registry(
        AdapterConfig(
            kind="azure", url=acr.url, http=http_client, username=acr.username, password=acr.password
        )
    )
    inventory = crawl_registry(client, RegistrySource(name="acr", url=acr.url, kind="azure"), workers=2)
    assert inventory.pushed[old] == NOW - dt.timedelta(days=200)  # the crawl stored ACR's clock
    in_use = Deployment(1, "prod", "container", "api", f"{acr.host}/team/app:running", running)
    policies = parse_policies(POLICIES)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[in_use], now=NOW)
    assert {i.digest for i in plan.items} == {old}
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory], deployments=[in_use])

    export = exporter("acr-purge")(ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=NOW))

    document = export.documents["acr"]
    command = "acr purge --filter '^(?:team(?:/.*)?)$:^(?:[^/]*)$' --ago 90d --untagged"
    assert document["commands"] == [command]
    assert document["dry_run"] == [command + " --dry-run"]
    (task,) = document["tasks"]
    assert shlex.split(task)[:6] == ["az", "acr", "task", "create", "--name", "regent-purge-1"]
    assert shlex.split(task)[shlex.split(task).index("--cmd") + 1] == command
    locked = {shlex.split(lock)[shlex.split(lock).index("--image") + 1] for lock in document["locks"]}
    assert locked == {"team/app:stable-1", "team/app:prod"}
    unexpressed = "\n".join(export.unexpressed)
    assert "deployment-aware keep" in unexpressed and "semver keep" in unexpressed
    assert "clock 'created'" in unexpressed  # Regent's policy ages by build time, acr purge by update
    # Only the running image differs: Regent keeps it (in use), the purge would delete it.
    (difference,) = export.differences
    assert (difference.digest, difference.regent, difference.native) == (running, "keep", "delete")
    assert difference.tags == ("running",) and "acr purge" in difference.why
    assert {stable, prod, fresh, other}.isdisjoint({d.digest for d in export.differences})


def test_dangling_rules_become_untagged_only_commands_and_re2_limits_are_named() -> None:
    policies = parse_policies(
        """
policies:
  - name: loose
    repositories: ["re:svc-[0-9]+"]
    keep:
      - most_recent: 3
    delete:
      - dangling_older_than_days: 14
      - all: true
  - name: lookahead
    repositories: ["re:(?!tmp).*"]
    delete:
      - all: true
"""
    )
    loose, lookahead = policies.policies
    commands, problems = commands_for(loose)
    assert [(c.tags, c.ago_days, c.untagged, c.keep) for c in commands] == [
        (NO_TAG, 14, True, None),
        ("^(?:[^/]*)$", 0, True, 3),
    ]
    assert commands[0].repositories == "^(?:svc-[0-9]+)$"
    assert any("--keep 3" in p for p in problems)
    built, refused = commands_for(lookahead)
    assert built == [] and "not RE2" in refused[0]  # RE2 has no look-ahead: no command, and it says so
    assert re2_union(["v[0-9]*"]) is not None and re.fullmatch(re2_union(["v[0-9]*"]) or "", "v1x")


def test_regent_plan_export_acr_purge_from_the_cli(acr: FakeAcr, seeder: Seeder, tmp_path: Path) -> None:
    created = NOW - dt.timedelta(days=200)
    old = seeder.push_image(
        ImageSpec(repository="team/app", tag="old", created=created, extra_layer_seed="o")
    )
    acr.created[old.digest] = created
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICIES)
    config = tmp_path / "regent.yml"
    config.write_text(
        f"registries:\n  - name: acr\n    url: {acr.url}\n    kind: azure\n"
        "    username_env: ACR_USER\n    password_env: ACR_PASSWORD\n"
    )
    env = {"REGENT_CONFIG": str(config), "ACR_USER": acr.username, "ACR_PASSWORD": acr.password}
    done = run_regent(
        "plan",
        "--policy",
        str(policy),
        "--export",
        "acr-purge",
        "--json",
        "--no-preview",
        state=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert acr.password not in done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert [item["digest"] for item in out["items"]] == [old.digest]
    (command,) = out["export"]["documents"]["acr"]["commands"]
    assert command.startswith("acr purge --filter") and "--ago 90d --untagged" in command
    assert out["export"]["differences"] == []

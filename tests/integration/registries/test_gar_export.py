"""`gar-cleanup` export: cleanup policies for a crawled GAR host, valid against the discovery document's
CleanupPolicy schema, and where Artifact Registry's cleanup and Regent's plan differ."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.gar import FakeGar
from tests.fakes.gar_spec import errors_against
from tests.integration.registries.apply_support import push_dated
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import Deployment, InventorySnapshot, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.base import ExportRequest, exporter
from tools.policy.export.gar_cleanup import Version, simulate
from tools.policy.loader import parse_policies
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.select import build_registry

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
POLICIES = """
protected_tags: ["prod"]
policies:
  - name: Images cleanup
    repositories: ["proj/images/app*"]
    keep:
      - tags: ["stable*"]
      - most_recent: 1
      - semver: {per: major, most_recent: 1}
    delete:
      - older_than_days: 90
"""


@pytest.fixture
def gar(registry: RegistryServer) -> Iterator[FakeGar]:
    with FakeGar(registry.url).running() as fake:
        yield fake


def as_cleanup_policy(entry: dict[str, Any]) -> dict[str, Any]:
    """A gcloud policy-file entry as the REST CleanupPolicy it stands for (name -> id, "90d" -> seconds)."""
    policy: dict[str, Any] = {"id": entry["name"], "action": entry["action"]["type"].upper()}
    if "condition" in entry:
        condition = dict(entry["condition"])
        for bound in ("olderThan", "newerThan"):
            if bound in condition:
                condition[bound] = f"{int(condition[bound].removesuffix('d')) * 86400}s"
        policy["condition"] = condition
    if "mostRecentVersions" in entry:
        policy["mostRecentVersions"] = entry["mostRecentVersions"]
    return policy


def test_gar_cleanup_policies_validate_and_name_the_differences(
    gar: FakeGar, seeder: Seeder, http_client: httpx.Client
) -> None:
    def push(repository: str, tag: str, days: int) -> str:
        created = NOW - dt.timedelta(days=days)  # uploaded when built, so both clocks agree
        return push_dated(seeder, gar.uploaded, repository, tag, created, repository + tag)

    old = push("proj/images/app", "old", 200)
    stable = push("proj/images/app", "stable-1", 200)
    fresh = push("proj/images/app", "fresh", 5)
    running = push("proj/images/app", "running", 200)
    tool = push("proj/images/tool", "old", 200)
    push("proj/other/x", "old", 200)
    config = AdapterConfig(
        kind="gar", url=gar.url, http=http_client, username="oauth2accesstoken", password=gar.access_token
    )
    client = build_registry(config)
    inventory = crawl_registry(client, RegistrySource(name="gar", url=gar.url, kind="gar"), workers=2)
    assert inventory.pushed[old] == NOW - dt.timedelta(days=200)  # the crawl stored GAR's upload time
    in_use = Deployment(1, "prod", "container", "api", f"{gar.host}/proj/images/app:running", running)
    policies = parse_policies(POLICIES)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[in_use], now=NOW)
    assert {i.digest for i in plan.items} == {old}
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory], deployments=[in_use])

    export = exporter("gar-cleanup")(ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=NOW))

    assert set(export.documents) == {"gar:proj/images"}  # proj/other is selected by no policy
    document = export.documents["gar:proj/images"]
    assert document["cleanupPolicyDryRun"] is True
    cleanup = document["cleanupPolicies"]
    assert cleanup == {
        "regent-protected": {
            "id": "regent-protected",
            "action": "KEEP",
            "condition": {"tagState": "TAGGED", "tagPrefixes": ["prod"]},
        },
        "images-cleanup-keep-tags": {
            "id": "images-cleanup-keep-tags",
            "action": "KEEP",
            "condition": {"tagState": "TAGGED", "tagPrefixes": ["stable"], "packageNamePrefixes": ["app"]},
        },
        "images-cleanup-keep-recent": {
            "id": "images-cleanup-keep-recent",
            "action": "KEEP",
            "mostRecentVersions": {"keepCount": 1, "packageNamePrefixes": ["app"]},
        },
        "images-cleanup-delete": {
            "id": "images-cleanup-delete",
            "action": "DELETE",
            "condition": {"tagState": "ANY", "packageNamePrefixes": ["app"], "olderThan": "7776000s"},
        },
    }
    for policy in cleanup.values():
        assert errors_against("CleanupPolicy", policy) == []
    assert [as_cleanup_policy(entry) for entry in document["policy_file"]] == list(cleanup.values())
    assert document["policy_file"][-1]["condition"]["olderThan"] == "90d"
    unexpressed = "\n".join(export.unexpressed)
    assert "deployment-aware keep" in unexpressed and "semver keep" in unexpressed
    assert "GAR ages by upload time" in unexpressed  # Regent's policy ages by build time
    (difference,) = export.differences
    assert (difference.digest, difference.regent, difference.native) == (running, "keep", "delete")
    assert "images-cleanup-delete" in difference.why
    assert {stable, fresh, tool}.isdisjoint({d.digest for d in export.differences})


def test_the_simulation_follows_keep_over_delete_and_unknown_times() -> None:
    policies = [
        {"id": "keep", "action": "KEEP", "condition": {"tagState": "TAGGED", "tagPrefixes": ["v1"]}},
        {"id": "recent", "action": "KEEP", "mostRecentVersions": {"keepCount": 1}},
        {"id": "old", "action": "DELETE", "condition": {"tagState": "ANY", "olderThan": "86400s"}},
        {"id": "loose", "action": "DELETE", "condition": {"tagState": "UNTAGGED"}},
    ]
    at = NOW - dt.timedelta(days=10)
    versions = [
        Version("sha256:a", "app", ("v1.2",), at),  # old, but a KEEP matches
        Version("sha256:b", "app", ("v2",), at),  # old: deleted
        Version("sha256:c", "app", ("v3",), NOW),  # the newest of its package
        Version("sha256:d", "app", ("v4",), None),  # no upload time: cannot tell
        Version("sha256:e", "app", (), None),  # untagged: deleted by a condition without age
    ]
    assert simulate(policies, versions, now=NOW) == {
        "sha256:a": "keep:keep",
        "sha256:b": "delete:old",
        "sha256:c": "keep:recent",
        "sha256:d": "unknown",
        "sha256:e": "delete:loose",
    }


def test_regent_plan_export_gar_cleanup_from_the_cli(gar: FakeGar, seeder: Seeder, tmp_path: Path) -> None:
    created = NOW - dt.timedelta(days=200)
    spec = ImageSpec(repository="proj/images/app", tag="old", created=created, extra_layer_seed="o")
    old = seeder.push_image(spec)
    gar.uploaded[old.digest] = created
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICIES)
    config = tmp_path / "regent.yml"
    config.write_text(
        f"registries:\n  - name: gar\n    url: {gar.url}\n    kind: gar\n"
        "    username_env: GAR_USER\n    password_env: GAR_TOKEN\n"
    )
    env = {"REGENT_CONFIG": str(config), "GAR_USER": "oauth2accesstoken", "GAR_TOKEN": gar.access_token}
    args = ("plan", "--policy", str(policy), "--export", "gar-cleanup", "--json", "--no-preview")
    done = run_regent(*args, state=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert gar.access_token not in done.stdout + done.stderr
    out = json.loads(done.stdout)
    # the only image is also the newest of its package: Regent and GAR both keep it (most_recent: 1)
    assert out["items"] == []
    cleanup = out["export"]["documents"]["gar:proj/images"]["cleanupPolicies"]
    assert set(cleanup) == {
        "regent-protected",
        "images-cleanup-keep-tags",
        "images-cleanup-keep-recent",
        "images-cleanup-delete",
    }
    assert all(errors_against("CleanupPolicy", policy) == [] for policy in cleanup.values())
    assert out["export"]["differences"] == []

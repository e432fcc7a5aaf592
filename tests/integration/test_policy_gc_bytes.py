"""The bytes a plan reports are what a real `garbage-collect` frees (invariant 8), on a real registry.

Random registries are pushed to a fresh docker-registry (shared base layers across repositories, digests
with several tags, indexes, cosign signatures, tags moved after an earlier crawl), crawled for real,
planned with random policies, executed with the real client, and garbage-collected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import (
    ALPINE_3_19_0,
    ALPINE_3_19_1,
    DEBIAN_12,
    ImageSpec,
    PushedImage,
    Seeder,
    seed_sample,
)
from tests.conftest import need_binary
from tests.unit.registry_strategies import REPOS, TAG_NAMES, policy_files
from tools.analysis.history import build_history
from tools.changes.retention import execute_plan
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistryInventory, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan
from tools.policy.store import PlanStore
from tools.registry.client import RegistryClient

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
BASES = (ALPINE_3_19_0, ALPINE_3_19_1, DEBIAN_12, None)


def crawl(server: RegistryServer, http: httpx.Client) -> tuple[RegistryInventory, RegistryClient]:
    client = RegistryClient(server.url, http=http, max_retry_wait=2.0)
    inventory = crawl_registry(client, RegistrySource(name="local", url=server.url), workers=2)
    assert not inventory.partial, inventory.errors
    return inventory, client


def apply_and_collect(server: RegistryServer, client: RegistryClient, plan: Plan, db: Path) -> int:
    """Execute the plan for real, garbage-collect, and return the blob bytes that went away."""
    server.garbage_collect()  # a clean baseline: nothing unreferenced left over from pushing
    before = server.blob_bytes_on_disk()
    store = PlanStore(db)
    store.save(plan)
    report = execute_plan(plan.plan_id, store=store, clients={"local": client}, current_deployments=list)
    assert report.status == "completed" and report.skipped == report.failed == 0, report.results
    assert report.freed_bytes == plan.reclaimable_bytes
    server.garbage_collect()
    return before - server.blob_bytes_on_disk()


@st.composite
def pushes(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Random push operations: images on shared bases, extra tags, an index, signatures, later moves."""
    ops: list[tuple[str, object]] = []
    for n in range(draw(st.integers(2, 8))):
        base = draw(st.sampled_from(BASES))
        spec = ImageSpec(
            repository=draw(st.sampled_from(REPOS)),
            tag=draw(st.sampled_from(TAG_NAMES)),
            created=NOW - dt.timedelta(days=draw(st.integers(0, 400))),
            base=base,
            own_layers=draw(st.integers(0 if base else 1, 2)),
            layer_size=draw(st.sampled_from((512, 2048))),
            media_type=draw(st.sampled_from(("docker", "oci"))),
            extra_layer_seed=f"img{n}",
        )
        ops.append(("image", spec))
        if draw(st.booleans()):
            ops.append(("tag", draw(st.sampled_from(TAG_NAMES))))
        if draw(st.integers(0, 3)) == 0:
            ops.append(("sign", None))
    if draw(st.booleans()):
        ops.append(("index", (draw(st.sampled_from(REPOS)), draw(st.sampled_from(TAG_NAMES)))))
    for n in range(draw(st.integers(0, 2))):
        ops.append(("move", (n, draw(st.integers(0, 30)))))
    return ops


def run_push(seeder: Seeder, kind: str, arg: object, last: PushedImage | None) -> PushedImage | None:
    """Apply one push operation; returns the latest pushed image (for tag and sign operations)."""
    if kind == "image":
        assert isinstance(arg, ImageSpec)
        return seeder.push_image(arg)
    if kind == "tag" and last is not None:
        seeder.tag(last.repository, last.digest, str(arg))
    elif kind == "sign" and last is not None:
        seeder.push_signature(last.repository, last.digest)
    elif kind == "index":
        repo, tag = arg  # type: ignore[misc]
        amd = ImageSpec(repository=repo, tag=None, created=NOW, base=DEBIAN_12, extra_layer_seed="amd")
        arm = replace(amd, platform=("linux", "arm64"), extra_layer_seed="arm")
        seeder.push_index(repo, tag, [amd, arm])
    elif kind == "move":
        n, days = arg  # type: ignore[misc]
        (repo, tag), _ = sorted(seeder.tagged().items())[n % len(seeder.tagged())]
        if not tag.startswith("sha256-"):
            created = NOW - dt.timedelta(days=days)
            return seeder.push_image(
                ImageSpec(repository=repo, tag=tag, created=created, extra_layer_seed=f"move{n}")
            )
    return last


@pytest.mark.timeout(900)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=pushes(), policies=policy_files())
def test_reported_bytes_equal_what_garbage_collect_frees(
    ops: list[tuple[str, object]],
    policies: PolicyFile,
    http_client: httpx.Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    tmp = tmp_path_factory.mktemp("gc")
    with RegistryServer(binary=binary) as server, Seeder(server.url, client=http_client) as seeder:
        # Regent crawls regularly; a crawl after each push lets history know every digest a moved tag
        # leaves behind (the v2 API cannot list untagged manifests, and they keep their blobs alive).
        snapshots, last = [], None
        for step, (kind, arg) in enumerate(ops):
            last = run_push(seeder, kind, arg, last)
            earlier, _ = crawl(server, http_client)
            taken = NOW - dt.timedelta(days=40 - step)
            snapshots.append(InventorySnapshot(taken_at=taken, registries=[earlier]))
        inventory, client = crawl(server, http_client)
        history = build_history(inventory, snapshots, now=NOW)
        plan = evaluate_policies(
            policies, registries=[inventory], deployments=[], now=NOW, history={"local": history}
        )
        freed = apply_and_collect(server, client, plan, tmp / "state.db")
        assert freed == plan.reclaimable_bytes, plan.model_dump_json(indent=1)[:3000]


def test_sample_registry_cleanup_frees_exactly_the_reported_bytes(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    inventory, client = crawl(registry, http_client)
    policies = parse_policies(
        """
protected_tags: [latest]
policies:
  - name: tidy
    repositories: ["**"]
    keep:
      - most_recent: 1
      - semver: {per: major, most_recent: 1}
    delete:
      - older_than_days: 30
"""
    )
    plan = evaluate_policies(policies, registries=[inventory], deployments=[], now=NOW)
    assert len(plan.items) >= 5 and plan.reclaimable_bytes > 0
    assert apply_and_collect(registry, client, plan, tmp_path / "state.db") == plan.reclaimable_bytes

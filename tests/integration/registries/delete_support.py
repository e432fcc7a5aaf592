"""What the per-kind adapter tests share: dated image specs, a two-platform index, saving and executing a
plan, and the delete scenario: `team/app` with an old image under two tags and a new one, a plan that
deletes the old one, executed through the adapter, and a second run that sends nothing. Each kind's test
checks its own delete path between `execute_once` and `execute_again`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.demo.images import ImageSpec
from bot.demo.seed import PushedImage, PushedIndex, Seeder
from tests.fakes.registry_front import RegistryFront
from tools.changes.retention import ExecutionReport, execute_plan
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.plans import Plan
from tools.policy.store import PlanStore
from tools.registry.kinds.base import NativeRegistry

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def spec(repository: str, tag: str | None, seed: str, days: int) -> ImageSpec:
    return ImageSpec(
        repository=repository, tag=tag, created=NOW - dt.timedelta(days=days), extra_layer_seed=seed
    )


def push_two_platform_index(seeder: Seeder, repository: str, tag: str, days: int) -> PushedIndex:
    """An index of two untagged images (linux/amd64 `amd`, linux/arm64 `arm`) under `tag`."""
    amd = spec(repository, None, "amd", days)
    arm = ImageSpec(
        repository=repository,
        tag=None,
        created=amd.created,
        platform=("linux", "arm64"),
        extra_layer_seed="arm",
    )
    return seeder.push_index(repository, tag, [amd, arm])


def save_and_execute(
    plan: Plan, client: NativeRegistry, name: str, tmp_path: Path
) -> tuple[PlanStore, ExecutionReport]:
    """The plan stored under tmp_path and run once through the adapter (registry `name`)."""
    store = PlanStore(tmp_path / "state.db")
    store.save(plan)
    report = execute_plan(plan.plan_id, store=store, clients={name: client}, current_deployments=list)
    return store, report


def push_old_and_new(seeder: Seeder) -> tuple[PushedImage, PushedImage]:
    """team/app: `old` and `old-alias` on a 300-day-old image, `new` on a 5-day-old one."""
    old = seeder.push_image(spec("team/app", "old", "old", 300))
    seeder.tag("team/app", old.digest, "old-alias")
    return old, seeder.push_image(spec("team/app", "new", "new", 5))


def execute_once(
    client: NativeRegistry, source: RegistrySource, policy: str, old: PushedImage, tmp_path: Path
) -> tuple[Plan, PlanStore, ExecutionReport]:
    """Crawl, plan (only `old` is to go, with both its tags) and execute the plan through the adapter."""
    inventory = crawl_registry(client, source, workers=2)
    plan = evaluate_policies(parse_policies(policy), registries=[inventory], deployments=[], now=NOW)
    assert [(i.digest, sorted(i.tags)) for i in plan.items] == [(old.digest, ["old", "old-alias"])]
    store, report = save_and_execute(plan, client, source.name, tmp_path)
    return plan, store, report


def execute_again(
    client: NativeRegistry,
    source: RegistrySource,
    policy: str,
    front: RegistryFront,
    plan: Plan,
    store: PlanStore,
    old: PushedImage,
    new: PushedImage,
) -> None:
    """A second run of the plan sends no delete, the old digest is gone, a new plan deletes nothing."""
    sent = front.count("DELETE")
    again = execute_plan(plan.plan_id, store=store, clients={source.name: client}, current_deployments=list)
    assert again.status == "already_done" and front.count("DELETE") == sent  # nothing sent
    assert client.delete_manifest("team/app", old.digest) is False  # already gone
    recrawl = crawl_registry(client, source, workers=2)
    second = evaluate_policies(parse_policies(policy), registries=[recrawl], deployments=[], now=NOW)
    assert second.items == [] and new.digest in {k.digest for k in second.kept}

"""End to end on the real registry and the real dockerd: a policy that would delete everything leaves what
is in use or needed intact, a tag moved between plan and apply is skipped, and a plan runs once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import DEBIAN_12, ImageSpec, PushedImage, PushedIndex, Seeder
from tests.conftest import need_binary
from tools.changes.retention import ExecutionReport, execute_plan
from tools.docker.source import docker_host_source
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import Deployment, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.registry.client import RegistryClient

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
WIPE = """
policies:
  - name: wipe
    repositories: ["**"]
    keep:
      - tags: [keep, multi]
    delete:
      - all: true
"""


def spec(repo: str, tag: str | None, seed: str, *, days: int = 200, runnable: bool = False) -> ImageSpec:
    return ImageSpec(
        repository=repo,
        tag=tag,
        created=NOW - dt.timedelta(days=days),
        base=DEBIAN_12,
        runnable=runnable,
        extra_layer_seed=seed,
    )


@dataclass
class Seeded:
    """What the scenario pushed."""

    running: PushedImage
    stopped: PushedImage
    shared: PushedImage
    kept_sig: str
    multi: PushedIndex
    doomed: PushedImage
    doomed_sig: str
    old_multi: PushedIndex
    moving: PushedImage
    web: PushedImage
    junk: PushedImage

    def must_stay(self) -> set[str]:
        keep = {self.running, self.stopped, self.shared, self.web, *self.multi.children}
        return {i.digest for i in keep} | {self.kept_sig, self.multi.digest}

    def must_go(self) -> set[str]:
        gone = {self.doomed, self.moving, self.junk, *self.old_multi.children}
        return {i.digest for i in gone} | {self.doomed_sig, self.old_multi.digest}


def seed(seeder: Seeder) -> Seeded:
    def index(tag: str, seed: str) -> PushedIndex:
        amd = spec("app", None, f"{seed}-amd")
        arm = replace(amd, platform=("linux", "arm64"), extra_layer_seed=f"{seed}-arm")
        return seeder.push_index("app", tag, [amd, arm])

    shared = seeder.push_image(spec("app", "old-build", "shared"))
    seeder.tag("app", shared.digest, "keep")
    doomed = seeder.push_image(spec("app", "v1", "v1"))
    return Seeded(
        running=seeder.push_image(spec("app", "running", "run", runnable=True)),
        stopped=seeder.push_image(spec("app", "stopped", "stop", runnable=True)),
        shared=shared,
        kept_sig=seeder.push_signature("app", shared.digest),
        multi=index("multi", "multi"),
        doomed=doomed,
        doomed_sig=seeder.push_signature("app", doomed.digest),
        old_multi=index("old-multi", "old"),
        moving=seeder.push_image(spec("app", "moving", "mv")),
        web=seeder.push_image(spec("other", "web", "web")),
        junk=seeder.push_image(spec("other", "junk", "junk")),
    )


def click_twice(
    plan_id: str, db: Path, client: RegistryClient, deployments: Callable[[], list[Deployment]]
) -> ExecutionReport:
    """Two concurrent approvals of the same plan: exactly one runs it."""

    def click(_: int) -> ExecutionReport:
        store = PlanStore(db)
        return execute_plan(plan_id, store=store, clients={"local": client}, current_deployments=deployments)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(click, range(2)))
    assert sorted(r.status for r in reports) in (
        ["already_running", "completed"],
        ["already_done", "completed"],
    )
    return next(r for r in reports if r.status == "completed")


@pytest.mark.timeout(300)
def test_wipe_policy_keeps_what_is_used_or_needed_and_skips_moved_tags(
    registry: RegistryServer, seeder: Seeder, dockerd: DockerDaemon, http_client: httpx.Client, tmp_path: Path
) -> None:
    need_binary("busybox", "busybox-static")
    pushed = seed(seeder)
    suffix = uuid.uuid4().hex[:8]
    for tag in ("running", "stopped"):
        dockerd.pull(f"{registry.host}/app:{tag}")
    running_id = dockerd.run(f"{registry.host}/app:running", name=f"running-{suffix}")
    stopped_id = dockerd.run(f"{registry.host}/app:stopped", name=f"stopped-{suffix}")
    dockerd.stop_container(stopped_id)
    try:
        stack = Deployment(2, "swarm", "stack", "shop", f"{registry.host}/other:web", None)
        host_source = docker_host_source(dockerd.docker_host, environment_id=1)

        def current_deployments() -> list[Deployment]:
            return [*host_source().deployments, stack]

        states = {d.digest: d.state for d in current_deployments()}
        assert states[pushed.running.digest] == "running" and states[pushed.stopped.digest] == "exited"

        client = RegistryClient(registry.url, http=http_client, max_retry_wait=2.0)
        inventory = crawl_registry(client, RegistrySource(name="local", url=registry.url), workers=2)
        plan = evaluate_policies(
            parse_policies(WIPE), registries=[inventory], deployments=current_deployments(), now=NOW
        )
        assert {item.digest for item in plan.items} == pushed.must_go()
        PlanStore(tmp_path / "state.db").save(plan)
        moved = seeder.push_image(spec("app", "moving", "moved", days=1))  # the tag moves after the plan

        report = click_twice(plan.plan_id, tmp_path / "state.db", client, current_deployments)
        results = {r.digest: r for r in report.results}
        assert results[pushed.moving.digest].status == "skipped"
        assert f"tag 'moving' moved to {moved.digest}" in results[pushed.moving.digest].reason
        assert report.deleted == len(plan.items) - 1 and report.failed == 0
        check_registry(registry, client, http_client, pushed, moved)
    finally:
        dockerd.remove_container(running_id)
        dockerd.remove_container(stopped_id)


def check_registry(
    registry: RegistryServer, client: RegistryClient, http: httpx.Client, pushed: Seeded, moved: PushedImage
) -> None:
    """After the run and a garbage collection: what must stay is there, blobs included."""

    def head(repo: str, ref: str) -> str | None:
        found = client.head_manifest(repo, ref)
        return found.digest if found else None

    for digest in pushed.must_stay() - {pushed.web.digest}:
        assert head("app", digest) == digest
    assert head("app", "keep") == head("app", "old-build") == pushed.shared.digest, "both tags stay"
    assert head("other", "web") == pushed.web.digest
    assert head("app", pushed.moving.digest) == pushed.moving.digest and head("app", "moving") == moved.digest
    for digest in pushed.must_go() - {pushed.moving.digest}:
        assert head("other" if digest == pushed.junk.digest else "app", digest) is None
    registry.garbage_collect()
    for image in (pushed.running, pushed.stopped, pushed.shared, *pushed.multi.children):
        for blob in (image.config_digest, *(layer.digest for layer in image.layers)):
            response = http.head(f"{registry.url}/v2/app/blobs/{blob}")
            assert response.status_code == 200, f"blob {blob} of a kept image was collected"

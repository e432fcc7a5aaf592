"""The harbor-retention export and Harbor's dry run beside Regent's plan, against the fake Harbor.

Two evaluations meet here: the export's own reading of Harbor's rules over the snapshot (its
`differences`) and the fake Harbor's dry run of the stored document (tests/fakes/harbor.py, written from
Harbor's launcher, selectors and rule templates). The documents are checked against the swagger's
RetentionPolicy both directly and when posted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, PushedImage, Seeder
from tests.fakes.harbor import FakeHarbor
from tests.fakes.registry_front import RegistryFront
from tools.errors import NotFound
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.base import ExportRequest, NativeExport, exporter
from tools.policy.export.harbor_dry_run import dry_run_beside_plan, parse_task_log
from tools.policy.loader import parse_policies
from tools.policy.plans import Plan
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.harbor.adapter import HarborRegistry
from tools.registry.kinds.select import build_registry

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
TIDY = """
protected_tags: ["prod"]
policies:
  - name: tidy
    repositories: ["team/**"]
    clock: pushed
    keep: [{most_recent: 2, clock: pushed}]
    delete: [{older_than_days: 30}]
"""
STRICT = r"""
policies:
  - name: strict
    repositories: ["team/app"]
    keep: [{tags: ["re:^1\\.0$"]}, {semver: {per: major, most_recent: 1}}]
    delete: [{older_than_days: 60, clock: pushed}]
  - name: web
    repositories: ["team/web"]
    delete: [{older_than_days: 30, clock: pushed}, {dangling_older_than_days: 7}]
"""


@dataclass
class Seeded:
    """team/app: 1.0 (100 days), prod (80), 2.0 (50), 3.0 (5); team/web: 1.0 (200); lib/base: 1.0."""

    app: dict[str, PushedImage]
    web: PushedImage
    base: PushedImage


@pytest.fixture
def harbor(registry: RegistryServer) -> Iterator[tuple[FakeHarbor, RegistryFront]]:
    fake = FakeHarbor(registry.url, projects=["team", "lib"], now=NOW)
    with RegistryFront(registry.url, fake.route) as front:
        yield fake, front
    assert fake.check.problems == [], fake.check.problems


def seed(seeder: Seeder, fake: FakeHarbor) -> Seeded:
    def push(repo: str, tag: str, days: int) -> PushedImage:
        spec = ImageSpec(repository=repo, tag=tag, created=NOW, extra_layer_seed=f"{repo}:{tag}")
        image = seeder.push_image(spec)
        fake.pushed[image.digest] = NOW - dt.timedelta(days=days)
        return image

    app = {
        tag: push("team/app", tag, days)
        for tag, days in (("1.0", 100), ("prod", 80), ("2.0", 50), ("3.0", 5))
    }
    return Seeded(app=app, web=push("team/web", "1.0", 200), base=push("lib/base", "1.0", 300))


def exported(
    text: str, front: RegistryFront, http: httpx.Client
) -> tuple[NativeExport, Plan, HarborRegistry]:
    config = AdapterConfig(
        kind="harbor", url=front.url, http=http, username="robot$regent", password="harbor-secret"
    )
    adapter = build_registry(config)
    assert isinstance(adapter, HarborRegistry)
    inventory = crawl_registry(adapter, RegistrySource(name="harbor", url=front.url, kind="harbor"))
    assert not inventory.errors
    policies = parse_policies(text)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[], now=NOW)
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory])
    return exporter("harbor-retention")(ExportRequest(policies, plan, snapshot, NOW)), plan, adapter


def store(front: RegistryFront, document: dict[str, Any]) -> None:
    """What the operator does with an exported document: POST it to Harbor (Regent never does)."""
    answer = httpx.post(
        f"{front.url}/api/v2.0/retentions", json=document, auth=("robot$regent", "harbor-secret")
    )
    assert answer.status_code == 201, answer.text


def bound(document: dict[str, Any], adapter: HarborRegistry, project: str) -> dict[str, Any]:
    ids = {p.name: p.project_id for p in adapter.api.projects()}
    return {**document, "scope": {"level": "project", "ref": ids[project]}}


def test_an_expressible_policy_exports_one_document_per_project_and_harbor_agrees(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = harbor
    seeded = seed(seeder, fake)
    export, plan, adapter = exported(TIDY, front, http_client)
    assert {i.digest for i in plan.items} == {seeded.app["1.0"].digest}
    assert list(export.documents) == ["team"]  # lib is selected by no policy
    document = export.documents["team"]
    schema = {"$ref": "#/definitions/RetentionPolicy"}
    assert fake.check.validate(schema, document) == []
    assert document["algorithm"] == "or" and document["scope"] == {"level": "project", "ref": 0}
    templates = [(r["template"], r["params"], r["tag_selectors"][0]["pattern"]) for r in document["rules"]]
    assert templates == [
        ("always", {}, "prod"),
        ("latestPushedK", {"latestPushedK": 2}, "**"),
        ("nDaysSinceLastPush", {"nDaysSinceLastPush": 30}, "**"),
    ]
    assert export.differences == ()  # Harbor's evaluation over the snapshot deletes exactly the plan
    store(front, bound(document, adapter, "team"))
    dry = dry_run_beside_plan(adapter.api, project="team", plan=plan, registry="harbor", sleep=lambda _: None)
    assert dry.complete and {t.repository: (t.total, t.retained) for t in dry.tasks} == {
        "app": (4, 3),
        "web": (1, 1),
    }
    verdicts = {(row.repository, row.digest): (row.regent, row.harbor) for row in dry.rows}
    assert verdicts[("team/app", seeded.app["1.0"].digest)] == ("delete", "DEL")
    assert verdicts[("team/app", seeded.app["prod"].digest)] == ("keep", "RETAIN")
    assert len(verdicts) == 5 and dry.disagreements == ()
    assert fake.executions[dry.execution_id][1] is True  # a dry run: the fake deleted nothing either
    assert len(fake.upstream.tags("team/app")) == 4  # nothing deleted in the real registry


def test_what_harbor_cannot_say_is_named_and_the_dry_run_shows_the_same_differences(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = harbor
    seeded = seed(seeder, fake)
    export, plan, adapter = exported(STRICT, front, http_client)
    assert {i.digest for i in plan.items} == {seeded.app["prod"].digest, seeded.web.digest}
    said = "\n".join(export.unexpressed)
    assert "keep tags 're:^1\\\\.0$': not a doublestar glob" in said
    assert "semver keep" in said and "2 delete rules: Harbor deletes only what every one" in said
    rules = export.documents["team"]["rules"]
    assert [r["scope_selectors"]["repository"][0]["pattern"] for r in rules] == ["app", "web", "web", "web"]
    # Harbor has no regex: it deletes 1.0, which Regent keeps; its or-ed retain rules keep web's tagged
    # image, which Regent's first delete rule takes (the safe side)
    assert sorted((d.digest, d.regent, d.native) for d in export.differences) == sorted(
        [(seeded.app["1.0"].digest, "keep", "delete"), (seeded.web.digest, "delete", "keep")]
    )
    store(front, bound(export.documents["team"], adapter, "team"))
    dry = dry_run_beside_plan(adapter.api, project="team", plan=plan, registry="harbor", sleep=lambda _: None)
    assert [t.repository for t in dry.tasks] == ["app", "web"]
    assert {row.digest for row in dry.disagreements} == {d.digest for d in export.differences}


def test_a_dry_run_needs_a_stored_policy_and_waits_for_running_tasks(
    harbor: tuple[FakeHarbor, RegistryFront], seeder: Seeder, http_client: httpx.Client
) -> None:
    fake, front = harbor
    seed(seeder, fake)
    export, plan, adapter = exported(TIDY, front, http_client)
    with pytest.raises(NotFound, match="Harbor project team has no retention policy to dry-run"):
        dry_run_beside_plan(adapter.api, project="team", plan=plan, registry="harbor")
    store(front, bound(export.documents["team"], adapter, "team"))
    fake.running_polls = 2
    naps: list[float] = []
    dry = dry_run_beside_plan(
        adapter.api, project="team", plan=plan, registry="harbor", sleep=naps.append, poll=0.5
    )
    assert dry.complete and naps == [0.5, 0.5]
    fake.running_polls = 100
    clock = iter(range(1000))
    late = dry_run_beside_plan(
        adapter.api,
        project="team",
        plan=plan,
        registry="harbor",
        sleep=lambda _: None,
        timeout=3,
        clock=lambda: next(clock),
    )
    assert not late.complete and late.rows == ()  # still running at the deadline: nothing claimed


def test_the_task_log_table_is_read_row_by_row() -> None:
    digest = "sha256:" + "a" * 64
    log = (
        "2026-12-01T12:00:00Z [INFO] [/pkg/retention/job.go:101]: \n"
        "| Digest | Tag | Kind | Labels | PushedTime | PulledTime | CreatedTime | Retention |\n"
        "|--------|-----|------|--------|------------|------------|-------------|-----------|\n"
        f"| {digest} | 1.0,latest | image | | t | t | t | DEL |\n"
        f"| {'sha256:' + 'b' * 64} | | image | | t | t | t | RETAIN |\n"
        "| not a digest | x | image | | t | t | t | DEL |\n"
    )
    assert parse_task_log(log) == [(digest, ("1.0", "latest"), "DEL"), ("sha256:" + "b" * 64, (), "RETAIN")]

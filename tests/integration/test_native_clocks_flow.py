"""Native clocks flow everywhere an age is used (#13): findings, policy decisions and warnings, the digest.

The registry is a real docker-registry crawled through a test adapter whose API "knows" fixed push and
pull times (tests/integration/test_native_clocks.py); every age shown must name that origin, and a
registry without a pull clock must fall back as docs/policies.md says, and say so.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from bot.digest.context import collect_context
from bot.digest.sections_cleanup import waste_section
from tests.integration.test_native_clocks import PULLED, PUSHED, FixedClocks
from tools.analysis.clocks import EVENTS_ORIGIN, ClockData, Clocks
from tools.analysis.findings import find_old_latest, find_stale_images
from tools.analysis.history import build_history
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistryInventory, RegistrySource
from tools.inventory.store import SnapshotStore
from tools.policy.evaluate import evaluate_policies
from tools.policy.model import PolicyFile
from tools.registry.kinds.base import AdapterConfig, NativeRegistry
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _crawl(registry: RegistryServer, http: httpx.Client, adapter: type[NativeRegistry]) -> RegistryInventory:
    client = adapter(AdapterConfig(kind="quay", url=registry.url, http=http))
    return crawl_registry(client, RegistrySource(name="reg", url=registry.url, kind="quay"))


@pytest.fixture
def pushed(seeder: Seeder) -> dict[str, str]:
    old = seeder.push_image(ImageSpec("team/app", "1.0", created=NOW, extra_layer_seed="1"))
    seeder.tag("team/app", old.digest, "latest")
    new = seeder.push_image(ImageSpec("team/app", "2.0", created=NOW, extra_layer_seed="2"))
    return {"old": old.digest, "new": new.digest}


def test_stale_findings_name_the_native_clock(
    registry: RegistryServer, pushed: dict[str, str], http_client: httpx.Client
) -> None:
    inventory = _crawl(registry, http_client, FixedClocks)
    report = find_stale_images(inventory, now=NOW, older_than_days=90, clock="pushed")
    assert {i.digest for i in report.images} == set(pushed.values())  # created NOW, pushed 183 days ago
    image = report.images[0]
    assert (image.time, image.origin, image.last_pulled_origin) == (
        PUSHED,
        "Test pushedAt",
        "Test lastPulledAt",
    )
    assert image.reason == (
        "stale: pushed 183 days ago (Test pushedAt); last pulled 133 days ago (Test lastPulledAt)"
    )
    by_pull = find_stale_images(inventory, now=NOW, older_than_days=90, clock="last_pulled")
    assert by_pull.images[0].reason == "stale: last pulled 133 days ago (Test lastPulledAt)"
    (latest,) = find_old_latest(inventory, now=NOW, older_than_days=90, clock="pushed")
    assert latest.digest == pushed["old"] and latest.origin == "Test pushedAt"
    # by the created clock nothing is stale: the images were built today
    assert find_stale_images(inventory, now=NOW, older_than_days=90).images == []


def test_notifications_and_the_api_merge_with_their_origins(
    registry: RegistryServer, pushed: dict[str, str], http_client: httpx.Client
) -> None:
    inventory = _crawl(registry, http_client, FixedClocks)
    later_pull = PULLED + dt.timedelta(days=30)
    later_push = PUSHED + dt.timedelta(days=10)
    history = build_history(
        inventory,
        [],
        now=NOW,
        pushed={pushed["old"]: later_push},
        last_pulled={pushed["old"]: later_pull},
    )
    clocks = Clocks(inventory.manifests, history.clocks)
    # the earliest push wins (the API's), the latest pull wins (the notification's)
    assert clocks.time(pushed["old"], "pushed") == PUSHED
    assert clocks.origin(pushed["old"], "pushed") == "Test pushedAt"
    assert clocks.time(pushed["old"], "last_pulled") == later_pull
    assert clocks.origin(pushed["old"], "last_pulled") == EVENTS_ORIGIN
    assert clocks.origin(pushed["new"], "last_pulled") == "Test lastPulledAt"
    # notifications alone still work as before, named as notifications
    alone = Clocks(inventory.manifests, ClockData(last_pulled={pushed["new"]: later_pull}))
    assert alone.time(pushed["new"], "last_pulled") == later_pull
    assert alone.origin(pushed["new"], "last_pulled") == EVENTS_ORIGIN


POLICY = {
    "policies": [
        {
            "name": "by-clocks",
            "repositories": ["**"],
            "keep": [{"pulled_within_days": 30}],
            "delete": [{"older_than_days": 90, "clock": "pushed"}],
        }
    ]
}


def test_plan_reasons_say_which_clock_and_origin_decided(
    registry: RegistryServer, pushed: dict[str, str], http_client: httpx.Client
) -> None:
    inventory = _crawl(registry, http_client, FixedClocks)
    plan = evaluate_policies(
        PolicyFile.model_validate(POLICY), registries=[inventory], deployments=[], now=NOW
    )
    reasons = {item.digest: item.reason for item in plan.items}
    assert set(reasons) == set(pushed.values())
    assert "older_than_days=90 by pushed (Test pushedAt): 2026-06-01, 183 days" in reasons[pushed["new"]]
    assert not plan.warnings
    # a day after the pull, the keep rule keeps both, naming the pull clock's origin
    soon = PULLED + dt.timedelta(days=1)
    kept = evaluate_policies(
        PolicyFile.model_validate(POLICY), registries=[inventory], deployments=[], now=soon
    )
    assert not kept.items
    assert any("pulled 2026-07-20 (Test lastPulledAt)" in k.reason for k in kept.kept)


def test_without_a_pull_clock_the_keep_rule_keeps_everything_and_says_so(
    registry: RegistryServer, pushed: dict[str, str], http_client: httpx.Client
) -> None:
    inventory = _crawl(registry, http_client, NativeRegistry)  # plain v2: no clocks at all
    plan = evaluate_policies(
        PolicyFile.model_validate(POLICY), registries=[inventory], deployments=[], now=NOW
    )
    assert not plan.items
    assert {k.reason for k in plan.kept} == {
        'policy "by-clocks" keep[0] pulled_within_days=30: last pull unknown (no pull clock), kept'
    }
    text = " ".join(plan.warnings)
    assert "no pull clock (the quay registry's API has none and no notifications arrived)" in text
    assert "pulled_within_days keeps every digest it sees" in text
    assert "no push clock" in text and "older_than_days deletes nothing" in text


def test_get_image_and_the_digest_show_the_native_clocks(
    registry: RegistryServer, pushed: dict[str, str], http_client: httpx.Client, tmp_path: Path
) -> None:
    inventory = _crawl(registry, http_client, FixedClocks)
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory])
    toolbox = Toolbox(ToolContext(snapshot=lambda: snapshot, now=lambda: NOW))
    outcome = toolbox.call("get_image", json.dumps({"image": "team/app:1.0"}), user="U1", conversation="C")
    details = json.loads(outcome.content)
    assert (details["pushed"], details["pushed_origin"]) == ("2026-06-01", "Test pushedAt")
    assert (details["last_pulled"], details["last_pulled_origin"]) == ("2026-07-20", "Test lastPulledAt")
    assert "last pulled 2026-07-20 (Test lastPulledAt)" in details["headline"]
    # the assistant's stale-image tool dates by the registry's push clock: both images, built today, go
    args = {"older_than_days": 90, "clock": "pushed", "include_dangling": False}
    stale = json.loads(
        toolbox.call("find_stale_images", json.dumps(args), user="U1", conversation="C").content
    )
    assert stale["stale"]["items"] == 2, stale
    assert any("(Test pushedAt)" in row["reason"] for row in stale["stale"]["largest_items"])
    # the digest reads the stored snapshot back: the clocks and their origins survive it
    store = SnapshotStore(tmp_path / "regent.db")
    try:
        store.save(snapshot)
        settings = Settings.model_validate({"digest": {"stale_days": 90, "stale_clock": "pushed"}})
        ctx = collect_context(store, settings, now=NOW + dt.timedelta(hours=1))
    finally:
        store.close()
    assert ctx is not None
    section = waste_section(ctx)
    assert section is not None
    assert section.lines[0] == (
        "reg: 2 stale images (not in use, older than 90 days by pushed (Test pushedAt); last pull by "
        "Test lastPulledAt), 0 became stale since the previous digest."
    )

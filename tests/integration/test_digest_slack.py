"""The scheduled digest posted to a fake Slack Web API over real HTTP: blocks within Slack's limits, the
chart through the external upload flow, fallback text, the proposal button; one digest per day, even
after a restart; a failed post is retried."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.config import Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder, seed_sample
from bot.digest.model import PROPOSE_ACTION
from bot.digest.runner import DigestRunner, DigestScheduler
from bot.slack.connect import make_web_client
from bot.slack.digest_post import SlackDigestPoster
from tests.fakes.slack_api import check_message
from tests.fakes.slack_files import FakeSlackFilesApi
from tools.inventory.models import InventorySnapshot

FIRST_CRAWL = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
NINE_BERLIN = datetime(2026, 11, 27, 8, 0, 30, tzinfo=UTC)  # Friday 09:00:30 in Berlin
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
POLICIES = """
policies:
  - name: batch-nightlies
    repositories: ["team-x/batch"]
    tags: ["nightly-*"]
    delete:
      - all: true
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake_slack() -> Any:
    with FakeSlackFilesApi() as fake:
        yield fake


def history(registry: RegistryServer, seeder: Seeder, tmp_path: Path, clock: Clock) -> App:
    """Four daily crawls of the sample registry with a push before each: enough for a forecast."""
    (tmp_path / "policies.yml").write_text(POLICIES)
    settings = Settings.model_validate(
        {
            "policies_file": str(tmp_path / "policies.yml"),
            "digest": {"channel": "#registry", "cron": "0 9 * * *", "timezone": "Europe/Berlin"},
        }
    )
    seed_sample(seeder, now=FIRST_CRAWL, runnable=False)
    runtime = build_app(
        settings=settings,
        secrets=Secrets(),
        state_dir=tmp_path / "state",
        registry_urls=[registry.url],
        clock=clock,
    )
    for day in range(4):
        clock.now = FIRST_CRAWL + timedelta(days=day)
        seeder.push_image(
            ImageSpec("shop/api", f"2.{day}.0", clock.now, base=ALPINE_3_19_1, layer_size=(day + 1) * 30_000)
        )
        runtime.refresh_snapshot()
    return runtime


def scheduler_for(runtime: App, fake: FakeSlackFilesApi, clock: Clock) -> DigestScheduler:
    client = make_web_client(token="xoxb-test", base_url=fake.api_url)
    poster = SlackDigestPoster(client, channel="#registry")
    return DigestScheduler(DigestRunner(runtime, poster=poster, clock=clock), clock=clock)


def test_scheduled_digest_posts_once_per_day_with_chart(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path, fake_slack: FakeSlackFilesApi
) -> None:
    clock = Clock(FIRST_CRAWL)
    runtime = history(registry, seeder, tmp_path, clock)
    try:
        clock.now = NINE_BERLIN - timedelta(minutes=1)
        scheduler = scheduler_for(runtime, fake_slack, clock)
        assert scheduler.tick() is None  # 08:59:30 in Berlin: not due yet
        clock.now = NINE_BERLIN
        result = scheduler.tick()
        assert result is not None and result.status == "sent", result
        check_message_posted(fake_slack, runtime)
        check_chart_uploaded(fake_slack)

        # Later the same day, and after a restart (a new scheduler on the same state): nothing more.
        clock.now = NINE_BERLIN + timedelta(hours=1)
        later = scheduler.tick()
        assert later is not None and later.status == "skipped"
        restarted = scheduler_for(runtime, fake_slack, clock)
        again = restarted.tick()
        assert again is not None and again.status == "skipped"
        assert len(fake_slack.calls("chat.postMessage")) == 1
        assert len(fake_slack.calls("files.completeUploadExternal")) == 1

        # The next morning: Slack refuses once; the retry posts the day's one digest.
        fake_slack.state.fail_next["chat.postMessage"] = "channel_not_found"
        clock.now = NINE_BERLIN + timedelta(days=1)
        failed = restarted.tick()
        assert failed is not None and failed.status == "failed"
        clock.now += timedelta(minutes=10)
        retried = restarted.tick()
        assert retried is not None and retried.status == "sent"
        assert len([c for c in fake_slack.calls("chat.postMessage") if c.ok]) == 2
        restarted.runner.close()
        scheduler.runner.close()
    finally:
        runtime.close()


def check_message_posted(fake: FakeSlackFilesApi, runtime: App) -> None:
    """One message within Slack's limits, with fallback text and a button whose plan is stored."""
    (post,) = fake.calls("chat.postMessage")
    args = post.args
    assert check_message(args) is None and post.ok
    assert len(args["blocks"]) <= 50
    assert args["channel"] == "#registry"
    assert args["text"].startswith("Registry digest, 2026-11-27\nStored ")
    button = next(
        element
        for block in args["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == PROPOSE_ACTION
    )
    plan = runtime.plans.get(button["value"])  # stored, so the button can become a proposal
    assert plan.policies == ["batch-nightlies"] and len(plan.items) == 5


def check_chart_uploaded(fake: FakeSlackFilesApi) -> None:
    """The PNG went through getUploadURLExternal, the upload URL and completeUploadExternal, in order."""
    (announce,) = fake.calls("files.getUploadURLExternal")
    (upload,) = fake.calls("upload")
    (complete,) = fake.calls("files.completeUploadExternal")
    assert [c.method for c in fake.calls()][-3:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    (chart,) = fake.uploads
    assert chart.data is not None and chart.data.startswith(PNG_MAGIC)
    assert announce.args["filename"] == "regent-digest-2026-11-27.png"
    assert int(announce.args["length"]) == len(chart.data) == upload.args["bytes"]
    assert complete.ok and chart.channel == "#registry" and chart.thread_ts is None
    assert "forecast" in chart.title and "90% range" in chart.alt_txt
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(chart.data), format="png")
    assert pixels.shape == (600, 1200, 4)


def test_scheduler_thread_posts_when_due_and_stops_promptly(
    tmp_path: Path, fake_slack: FakeSlackFilesApi
) -> None:
    """The thread `regent serve` runs: started after 09:00 (a restart), it catches up once, then sleeps."""
    settings = Settings.model_validate({"digest": {"cron": "0 9 * * *", "timezone": "Europe/Berlin"}})
    clock = Clock(NINE_BERLIN + timedelta(hours=2))  # 11:00: within the 6-hour catch-up window
    runtime = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path, clock=clock)
    try:
        runtime.snapshots.save(InventorySnapshot(taken_at=clock.now - timedelta(hours=1)))
        scheduler = scheduler_for(runtime, fake_slack, clock)
        scheduler.start()
        (post,) = fake_slack.wait_for("chat.postMessage")
        assert post.ok and "Registry digest, 2026-11-27" in post.args["text"]
        started = time.monotonic()
        scheduler.stop()
        assert time.monotonic() - started < 5
        scheduler.runner.close()
        assert len(fake_slack.calls("chat.postMessage")) == 1
    finally:
        runtime.close()

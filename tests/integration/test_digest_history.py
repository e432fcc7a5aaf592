"""Trend figures from a history of real crawls: pushes and deletions between crawls on the real registry.

The clock of the runtime is moved one day per crawl, so the snapshots form a daily history; every figure
is checked against the seeder's own bookkeeping (exact stored bytes) or an independent computation.
"""

from __future__ import annotations

import statistics
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import DB_NAME, App, build_app
from bot.config import Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from bot.digest import format as fmt
from bot.digest.context import collect_context
from bot.digest.log import DigestLog
from bot.digest.runner import DigestRunner
from tools.analysis.cost import GIB

START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
PRICE = 1000.0  # per GB-month: large enough that KiB-sized test images cost whole cents


def spec(repository: str, tag: str, *, day: int, kib: int) -> ImageSpec:
    return ImageSpec(
        repository=repository,
        tag=tag,
        created=START + timedelta(days=day),
        base=ALPINE_3_19_1,
        layer_size=kib * 1024,
        extra_layer_seed=f"{repository}:{tag}",
    )


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def test_trend_figures_follow_pushes_and_deletions(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    name = registry.url.split("//", 1)[1]
    settings = Settings.model_validate({"digest": {"cost_per_gb_month": {name: PRICE}}})
    clock = Clock()
    runtime = build_app(
        settings=settings, secrets=Secrets(), state_dir=tmp_path, registry_urls=[registry.url], clock=clock
    )
    expected: list[int] = []

    def crawl(day: int) -> None:
        clock.now = START + timedelta(days=day)
        runtime.refresh_snapshot()
        expected.append(seeder.expected().stored_bytes)

    try:
        a1 = seeder.push_image(spec("app/a", "1", day=0, kib=40))
        seeder.push_image(spec("app/b", "1", day=0, kib=20))
        crawl(0)
        seeder.push_image(spec("app/a", "2", day=1, kib=80))
        crawl(1)
        seeder.push_image(spec("app/b", "2", day=2, kib=60))
        seeder.delete("app/a", a1.digest)  # a deletion between crawls: bytes go down
        crawl(2)
        first = check_not_enough_history(runtime, clock, expected, name=name)

        # The previous digest went out after the third crawl; then app/c arrives and a quiet day passes.
        with closing(DigestLog(tmp_path / DB_NAME)) as log:
            send = log.claim(clock.now.date(), kind="scheduled", now=clock.now)
            assert send is not None
            log.mark_sent(send, channel="C0DIGEST", ts="1.2", snapshot_id=first, now=clock.now)
        c1 = seeder.push_image(spec("app/c", "1", day=3, kib=100))
        crawl(3)
        crawl(4)
        check_trends(runtime, clock, expected, previous_snapshot_id=first, app_c_bytes=c1.total_bytes)
        check_digest_figures(runtime, clock, expected)
    finally:
        runtime.close()


def check_not_enough_history(runtime: App, clock: Clock, expected: list[int], *, name: str) -> int:
    """Three days of history: no forecast, and the digest says so instead of inventing numbers."""
    ctx = collect_context(runtime.snapshots, runtime.settings, now=clock.now, history=runtime.history)
    assert ctx is not None
    facts = ctx.registries[0]
    assert [p.value for p in facts.series] == expected
    assert facts.forecast.status == "not_enough_history"
    with closing(DigestRunner(runtime, clock=clock)) as runner:
        digest, _plan = runner.build()
    forecast = digest.section("forecast")
    assert forecast is not None and forecast.table is None
    assert forecast.lines == [
        f"{name}: not enough history: 3 daily points over 2.0 days "
        "(a forecast needs at least 4 days spanning 3)."
    ]
    assert "Forecast: not enough history yet" in digest.headline
    return ctx.snapshot_id


def check_trends(
    runtime: App, clock: Clock, expected: list[int], *, previous_snapshot_id: int, app_c_bytes: int
) -> None:
    """Series, change since the previous digest, the Theil-Sen slope (recomputed here) and the drivers."""
    ctx = collect_context(
        runtime.snapshots,
        runtime.settings,
        now=clock.now,
        previous_sent_at=START + timedelta(days=2),
        previous_snapshot_id=previous_snapshot_id,
        history=runtime.history,
    )
    assert ctx is not None
    facts = ctx.registries[0]
    assert [p.value for p in facts.series] == expected
    assert facts.current.stored_bytes == expected[-1]
    assert facts.previous is not None and facts.previous.stored_bytes == expected[2]
    slopes = [
        (expected[j] - expected[i]) / (j - i)
        for i in range(len(expected))
        for j in range(i + 1, len(expected))
    ]
    assert facts.forecast.status == "ok"
    assert facts.forecast.per_day == statistics.median(slopes)
    assert facts.forecast.per_week == statistics.median(slopes) * 7
    in30 = facts.forecast.projection(30)
    assert in30 is not None and in30.expected == round(expected[-1] + statistics.median(slopes) * 30)
    assert in30.low <= in30.expected <= in30.high
    # The repository that drove growth is app/c: new since the oldest snapshot, all its bytes new.
    top = facts.drivers[0]
    assert (top.repository, top.before, top.after) == ("app/c", 0, app_c_bytes)


def check_digest_figures(runtime: App, clock: Clock, expected: list[int]) -> None:
    """Cost, change since the previous digest, new images and dangling digests, as the digest writes them."""
    with closing(DigestRunner(runtime, clock=clock)) as runner:
        digest, _plan = runner.build()
    overview = digest.section("overview")
    assert overview is not None and overview.table is not None
    row = overview.table.rows[0]
    change = expected[-1] - expected[2]
    cost = fmt.money(expected[-1] / GIB * PRICE, "USD")
    assert row[3:6] == [fmt.size(expected[-1]), fmt.size_change(change), cost]
    cost_change = fmt.money_change(change / GIB * PRICE, "USD")
    assert digest.headline[0] == (
        f"Stored {fmt.size(expected[-1])} in 1 registry, {cost}/month "
        f"({fmt.size_change(change)}, {cost_change}/month)"
    )
    assert digest.headline[1] == "3 repositories (+1), 4 tags (+1)"
    # New since the previous digest: app/c:1 (first seen by the crawl of day 3); a:1 dangles.
    new = digest.section("new_images")
    assert new is not None and new.table is not None
    assert [r[1:3] for r in new.table.rows] == [["app/c", "1"]]
    waste = digest.section("waste")
    assert waste is not None
    assert any("1 dangling digests (0 new)" in line for line in waste.lines)

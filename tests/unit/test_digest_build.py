"""The digest from synthetic snapshots with chosen timestamps: a known linear growth forecast exactly,
quota date and cost, the same figures in the terminal and in Slack, escaping, Slack limits, the chart,
and the optional one-call summary through the real openai SDK against the fake server."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bot.agent.llm import OpenAIChat
from bot.config import Settings
from bot.digest import format as fmt
from bot.digest.build import build_digest
from bot.digest.chart import draw_chart, render_chart
from bot.digest.context import DigestContext, collect_context
from bot.digest.model import Digest, DigestSection, DigestTable
from bot.digest.summary import DigestSummarizer
from bot.digest.terminal import print_digest
from bot.slack.digest_blocks import digest_message
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import check_message
from tools.analysis.cost import GIB
from tools.inventory.models import Descriptor, InventorySnapshot, Manifest, RegistryInventory, RegistrySource
from tools.inventory.store import SnapshotStore

MIB = 1024**2
START = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
ECR = RegistrySource(name="prod-ecr", url="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def snapshot_with(size: int, *, at: datetime) -> InventorySnapshot:
    """One repository whose only image has one layer of `size` bytes (stored bytes = size exactly)."""
    manifest = Manifest(
        digest=digest_of(f"m{size}"),
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=0,
        layers=(Descriptor(digest_of(f"l{size}"), size),),
        created=at,
    )
    inventory = RegistryInventory(
        source=ECR,
        tags={"shop/api": {"1.0": manifest.digest}},
        repository_digests={"shop/api": {manifest.digest}},
        manifests={manifest.digest: manifest},
    )
    return InventorySnapshot(taken_at=at, registries=[inventory])


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SnapshotStore(tmp_path / "regent.db")
    yield store
    store.close()


def linear_history(store: SnapshotStore, days: int) -> None:
    for day in range(days):
        store.save(snapshot_with(100 * MIB + 10 * MIB * day, at=START + timedelta(days=day)))


def context(store: SnapshotStore, **digest: Any) -> DigestContext:
    settings = Settings.model_validate({"digest": {"timezone": "Europe/Berlin", **digest}})
    ctx = collect_context(store, settings, now=NOW)
    assert ctx is not None
    return ctx


def test_known_linear_growth_is_forecast_exactly_with_cost_and_quota(store: SnapshotStore) -> None:
    linear_history(store, 10)  # 100 MiB + 10 MiB a day; the last point is 190 MiB on 2026-11-10
    ctx = context(store, quota_bytes={"prod-ecr": 500 * MIB})
    facts = ctx.registries[0]
    assert facts.price.per_gb_month == 0.10 and facts.price.source == "cloud default"
    in30, in90 = facts.forecast.projection(30), facts.forecast.projection(90)
    assert in30 is not None and in90 is not None
    assert (in30.expected, in30.low, in30.high) == (490 * MIB,) * 3
    assert (in90.expected, in90.low, in90.high) == (1090 * MIB,) * 3
    section = build_digest(ctx).section("forecast")
    assert section is not None and section.table is not None
    assert section.table.rows == [
        [
            "prod-ecr",
            "+10.0 MiB/day",
            "+70.0 MiB/week",
            f"490.0 MiB (490.0 MiB-490.0 MiB), {fmt.money(490 * MIB / GIB * 0.10, 'USD')}/month",
            f"1.1 GiB (1.1 GiB-1.1 GiB), {fmt.money(1090 * MIB / GIB * 0.10, 'USD')}/month",
            # 310 MiB to go at 10 MiB a day: 31 days after 2026-11-10
            "500.0 MiB: 2026-12-11 (2026-12-11 to 2026-12-11)",
        ]
    ]
    assert date(2026, 11, 10) + timedelta(days=31) == date(2026, 12, 11)


def test_three_days_are_not_enough_history(store: SnapshotStore) -> None:
    linear_history(store, 3)
    digest = build_digest(context(store))
    forecast = digest.section("forecast")
    assert forecast is not None and forecast.table is None
    assert "not enough history: 3 daily points over 2.0 days" in forecast.lines[0]
    assert digest.chart is not None and digest.chart.series[0].forecast == []  # measured points, no band


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def terminal_text(digest: Digest) -> str:
    out = io.StringIO()
    print_digest(digest, console=Console(file=out, width=400, color_system=None))
    return out.getvalue()


def slack_text(digest: Digest) -> str:
    payload = digest_message(digest).payload()
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return "\n".join(texts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_terminal_and_slack_show_the_same_figures(store: SnapshotStore) -> None:
    linear_history(store, 10)
    digest = build_digest(context(store, quota_bytes={"prod-ecr": 500 * MIB}))
    assert len(digest.sections) >= 3
    terminal, slack = terminal_text(digest), slack_text(digest)
    figures = sorted(set(NUMBER.findall(terminal)))
    assert figures == sorted(set(NUMBER.findall(slack)))
    for expected in ("190.0 MiB", "490.0 MiB", "1.1 GiB", "2026-12-11", "$0.02/month", "+10.0 MiB/day"):
        assert expected in terminal and expected in slack


def test_registry_strings_are_escaped_in_slack_and_shown_literally_in_the_terminal() -> None:
    evil = "<!channel> & <https://evil.example|docs> [bold]x[/bold]"
    digest = Digest(
        title="Registry digest, 2026-11-27",
        generated_at=NOW,
        timezone="UTC",
        snapshot_id=1,
        snapshot_taken_at=NOW,
        headline=[f"repo {evil}"],
        sections=[
            DigestSection(
                key="x",
                title=f"Section {evil}",
                lines=[evil],
                table=DigestTable(headers=["repository"], rows=[[evil]]),
                notes=[evil],
            )
        ],
    )
    payload = digest_message(digest).payload()
    raw = str(payload["blocks"])
    assert "<!channel>" not in raw and "<https://" not in raw
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|docs&gt;" in raw
    assert evil in terminal_text(digest)  # rich markup in a tag is not markup


def test_blocks_stay_within_slack_limits_however_many_sections() -> None:
    rows = [[f"team/repo-{i}", "x" * 80, str(i)] for i in range(10)]
    sections = [
        DigestSection(
            key=f"s{n}",
            title=f"Section {n}",
            lines=["y" * 400] * 5,
            table=DigestTable(headers=["a", "b", "c"], rows=rows),
        )
        for n in range(30)
    ]
    digest = Digest(
        title="Registry digest",
        generated_at=NOW,
        timezone="UTC",
        snapshot_id=1,
        snapshot_taken_at=NOW,
        headline=["z" * 5000],
        sections=sections,
    )
    payload = digest_message(digest, chart_note="chart below").payload()
    assert check_message(payload) is None
    assert len(payload["blocks"]) <= 50
    assert "Left out to fit Slack" in str(payload["blocks"][-1])
    assert 0 < len(payload["text"]) <= 3000


def test_chart_is_a_png_with_labelled_axes_and_units(store: SnapshotStore) -> None:
    linear_history(store, 10)
    digest = build_digest(context(store, quota_bytes={"prod-ecr": 500 * MIB}))
    assert digest.chart is not None
    figure = draw_chart(digest.chart)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "Date (Europe/Berlin)"
    assert axes.get_ylabel() == "Stored bytes (GiB)"  # the 90-day forecast passes 1 GiB
    assert "90-day forecast" in axes.get_title()
    box = axes.get_legend()
    assert box is not None
    legend = [t.get_text() for t in box.get_texts()]
    assert legend == [
        "prod-ecr (measured)",
        "prod-ecr (forecast)",
        "prod-ecr (90% range)",
        "prod-ecr quota",
        "last crawl",
    ]
    png = render_chart(digest.chart)
    import matplotlib.image

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert matplotlib.image.imread(io.BytesIO(png), format="png").shape == (600, 1200, 4)
    assert render_chart(digest.chart) == png  # deterministic: no timestamp in the file


def test_summary_is_one_bounded_call_and_optional(store: SnapshotStore) -> None:
    linear_history(store, 10)
    ctx = context(store)
    long_answer = "Storage grew. Clean shop. Nothing risky. A fourth sentence is cut. " + "x" * 900
    with FakeOpenAI([{"content": long_answer}, {"status": 500}]) as llm:
        chat = OpenAIChat(model="test-model", base_url=llm.base_url, api_key="sk-test", max_retries=0)
        summarizer = DigestSummarizer(chat)
        digest = build_digest(ctx, summarizer=summarizer, summary_by="test-model")
        assert digest.summary == "Storage grew. Clean shop. Nothing risky."
        (request,) = llm.requests
        assert "tools" not in request and request["messages"][1]["content"].startswith("Registry digest")
        assert "Summary (written by test-model from the figures below):" in terminal_text(digest)
        failed = build_digest(ctx, summarizer=summarizer)  # the endpoint fails: the digest is complete anyway
        assert failed.summary is None and failed.sections == digest.sections
        summarizer.close()

"""Block Kit builders stay within Slack's limits and never let registry or model text inject markup."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.approvals import Proposal, build_card
from bot.slack.blocks import answer_messages, report_message
from bot.slack.cards import card_message, item_list_messages
from bot.slack.mrkdwn import escape_text, format_table, sanitize_mrkdwn, split_mrkdwn
from bot.slack.report import Report, Table
from tests.fakes.slack_api import check_message
from tools.changes.retention import RETENTION, ExecutionReport
from tools.policy.plans import KeptDigest, Plan, PlanItem, PlanRegistry, hash_items
from tools.policy.store import ItemResult

EVIL = "<!channel> <@U0BOSS> <https://evil.example|click> & `tick`"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def big_plan(n: int) -> Plan:
    items = [
        PlanItem(
            registry="harbor-" + "x" * 40,
            repository=f"team-{i % 7}/{'very-long-name-' * 4}{i}",
            digest="sha256:" + f"{i:064x}",
            tags=[f"v{i}", EVIL, "t" * 128],
            reason="older than 90 days " + EVIL,
            bytes=i * 1000,
            kind="image",
        )
        for i in range(n)
    ]
    kept = [
        KeptDigest(
            registry="r",
            repository="a",
            digest="sha256:" + "f" * 64,
            tags=["x"],
            reason=f"kept {i % 9} {EVIL}",
        )
        for i in range(300)
    ]
    return Plan(
        plan_id="plan-big",
        created_at=T0,
        policies=[EVIL, "p2"],
        registries=[
            PlanRegistry(
                name="r", url="http://r", kind="distribution", access="direct", after_delete="run GC " * 200
            )
        ],
        items=items,
        kept=kept,
        reclaimable_bytes=10**12,
        shared_bytes=10**9,
        items_hash=hash_items(i.model_dump(mode="json") for i in items),
        warnings=[EVIL * 20],
    )


def proposal_for(plan: Plan, **changes: Any) -> Proposal:
    base = Proposal(
        id="prop-0123456789ab",
        plan_id=plan.plan_id,
        items_hash=plan.items_hash,
        summary=plan.summary(),
        requester="U0REQ",
        conversation="c",
        created_at=T0,
        expires_at=T0 + timedelta(hours=24),
        status="pending",
    )
    return replace(base, **changes)


def assert_ok(payload: dict[str, Any]) -> None:
    assert check_message(payload) is None, check_message(payload)
    rendered = str(payload)
    assert "<!channel>" not in rendered and "<@U0BOSS>" not in rendered and "<https://evil" not in rendered


@pytest.mark.parametrize("n", [0, 1, 10, 11, 1500])
def test_cards_fit_and_buttons_carry_only_the_id(n: int) -> None:
    plan = big_plan(n)
    card = build_card(proposal_for(plan), plan, RETENTION)
    payload = card_message(card).payload()
    assert_ok(payload)
    values = [e["value"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values == ["prop-0123456789ab"] * 2
    listed = item_list_messages(card)
    assert (n > 10) == bool(listed)
    for message in listed:
        assert_ok(message.payload())
    shown = str(payload) + "".join(str(m.payload()) for m in listed)
    assert all((item.digest if listed else item.digest[7:19]) in shown for item in plan.items)


def test_outcome_card_fits_with_many_failures() -> None:
    plan = big_plan(40)
    results = [
        ItemResult(
            index=i,
            registry=it.registry,
            repository=it.repository,
            digest=it.digest,
            tags=it.tags,
            status="skipped" if i % 2 else "deleted",
            reason="tag moved " + EVIL,
            bytes=it.bytes,
        )
        for i, it in enumerate(plan.items)
    ]
    report = ExecutionReport(
        plan_id=plan.plan_id,
        status="completed",
        runner="r",
        results=results,
        deleted=20,
        already_gone=0,
        skipped=20,
        failed=0,
        freed_bytes_at_least=1,
        freed_bytes=None,
        after_delete=["GC " + EVIL],
        message="20 deleted",
    )
    proposal = proposal_for(
        plan, status="done", decided_by="U0APP", decided_at=T0, result=report.model_dump(mode="json")
    )
    payload = card_message(build_card(proposal, plan, RETENTION)).payload()
    assert_ok(payload)
    assert "Deleted 20" in str(payload) and "regent_approve" not in str(payload)


def test_long_answers_split_within_limits_and_keep_every_line() -> None:
    lines = [f"line {i} {EVIL}" for i in range(3000)]
    text = (
        "\n".join(lines[:1000])
        + "\n```\n"
        + "\n".join(lines[1000:2000])
        + "\n```\n"
        + "\n".join(lines[2000:])
    )
    messages = answer_messages(text, notes=["cut " + EVIL])
    assert len(messages) > 1
    for message in messages:
        assert_ok(message.payload())
    joined = "\n".join(
        b["text"]["text"] for m in messages for b in m.payload()["blocks"] if b["type"] == "section"
    )
    for i in (0, 999, 1000, 1999, 2999):
        assert f"line {i} " in joined
    for chunk in split_mrkdwn(sanitize_mrkdwn(text)):
        assert chunk.count("```") % 2 == 0


def test_reports_fit_even_with_huge_tables() -> None:
    rows = tuple((f"repo-{i}-{EVIL}", str(i), "1.0 MiB") for i in range(2000))
    report = Report(
        title=EVIL * 10,
        lines=(EVIL,) * 50,
        tables=(Table(("repository", "n", "size"), rows, right=(1,)),),
        notes=(EVIL,),
    )
    assert_ok(report_message(report).payload())


def test_escaping_and_tables() -> None:
    assert escape_text("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"
    assert sanitize_mrkdwn("a &amp; b &lt; c & <d>") == "a &amp; b &lt; c &amp; &lt;d&gt;"
    table = format_table(("name", "size"), [("a<b", "10"), ("long-name", "2")], right=(1,))
    assert table.splitlines() == [
        "```",
        "name       size",
        "---------  ----",
        "a&lt;b          10",  # a<b shows as 3 characters, padded to 9
        "long-name     2",
        "```",
    ]

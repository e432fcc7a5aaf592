"""The App Home view stays within Slack's limits for 0, 1 and 500 waiting proposals, escaping everything."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.approvals import Proposal, build_card
from bot.digest.home import LastDigest, home_facts, top_reclaimable
from bot.digest.model import Digest, DigestSection, table
from bot.slack.cards import card_message
from bot.slack.home_blocks import HOME_PROPOSALS, MAX_HOME_BLOCKS, HomeContent, WaitingProposal, home_view
from tests.fakes.slack_limits import check_view
from tests.unit.test_slack_blocks import EVIL, big_plan, proposal_for
from tools.changes.retention import RETENTION

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def digest_with_sections() -> Digest:
    rows = [[f"{EVIL} reg{i}", "12", "40", "1.0 GiB", "+5.0 MiB", "$0.10", "$0.10/GB"] for i in range(15)]
    sections = [
        DigestSection(
            key="overview",
            title="Totals",
            lines=["Changes are since the previous digest."],
            table=table(["registry", "repos", "tags", "stored", "change", "cost", "price"], rows),
            notes=["Inventory of today."],
        ),
        DigestSection(key="forecast", title="Growth and forecast", lines=["reg0: not enough history."]),
        DigestSection(key="waste", title="Stale", lines=["not on the Home tab"]),
    ]
    return Digest(
        title="Registry digest",
        generated_at=T0,
        timezone="UTC",
        snapshot_id=3,
        snapshot_taken_at=T0,
        headline=["Stored 1.0 GiB"],
        sections=sections,
    )


def content(count: int, **changes: Any) -> HomeContent:
    plan = big_plan(30)
    proposals = [proposal_for(plan, id=f"prop-{i:012x}", summary=f"{EVIL} {i}") for i in range(count)]
    waiting = [WaitingProposal(p, build_card(p, plan, RETENTION)) for p in proposals[:HOME_PROPOSALS]]
    last = LastDigest(sent_at=T0, channel="C0OPS", ts="1.2", headline=(f"Stored 1 GiB {EVIL}",) * 8)
    base = HomeContent(
        now=T0,
        waiting=waiting,
        waiting_total=count,
        pending_total=count,
        facts=home_facts(digest_with_sections(), plan, last=last),
        notice=f"Approved. {EVIL}",
    )
    return replace(base, **changes)


def view_of(home: HomeContent) -> dict[str, Any]:
    view = home_view(home).to_dict()  # slack_sdk validates the view itself (1-100 blocks, home shape)
    assert check_view(view) is None, check_view(view)
    return view


@pytest.mark.parametrize("count", [0, 1, 500])
def test_home_view_fits_slack_for_0_1_and_500_proposals(count: int) -> None:
    view = view_of(content(count))
    blocks = view["blocks"]
    assert len(blocks) <= MAX_HOME_BLOCKS
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    shown = min(count, HOME_PROPOSALS)
    assert len(buttons) == 2 * shown
    text = json.dumps(view)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "Totals" in text and "Growth and forecast" in text and "not on the Home tab" not in text
    assert "Last digest" in text and "Top reclaimable repositories" in text
    if count == 0:
        assert "Nothing waits for your approval" in text
    if count == 500:
        assert f"and {500 - shown} more waiting for you" in text


def test_home_buttons_are_the_cards_buttons() -> None:
    home = content(1)
    (waiting,) = home.waiting
    assert waiting.card is not None
    card_blocks = card_message(waiting.card).payload()["blocks"]
    card_actions = [b for b in card_blocks if b["type"] == "actions"]
    home_actions = [b for b in view_of(home)["blocks"] if b["type"] == "actions"]
    assert home_actions == card_actions  # same action ids, value (the proposal id only), confirm dialogs
    assert [e["value"] for e in home_actions[0]["elements"]] == [waiting.proposal.id] * 2


def test_fewer_proposals_shown_when_the_rest_of_the_tab_is_long() -> None:
    """Even if every other part were at its largest, the proposals give way, never the limit."""
    many = [DigestSection(key="overview", title=f"Totals {i}", lines=["x"]) for i in range(60)]
    home = content(500)
    assert home.facts is not None
    facts = replace(home.facts, digest=home.facts.digest.model_copy(update={"sections": many}))
    view = view_of(replace(home, facts=facts))
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    assert "more waiting for you" in json.dumps(view)


def test_not_an_approver_sees_why_and_the_workspace_count() -> None:
    view = view_of(content(0, why_none="Only approvers can decide.", pending_total=7, facts=None))
    text = json.dumps(view)
    assert "Only approvers can decide." in text and "7 proposals are pending" in text
    assert "No inventory yet" in text


def test_a_proposal_whose_change_cannot_be_shown_has_no_buttons() -> None:
    home = content(1)
    broken = [WaitingProposal(home.waiting[0].proposal, None)]
    view = view_of(replace(home, waiting=broken))
    assert not [b for b in view["blocks"] if b["type"] == "actions"]
    assert "cannot be shown" in json.dumps(view)


def test_top_reclaimable_groups_the_plan_by_repository() -> None:
    plan = big_plan(30)  # repositories team-0 … team-6 share names modulo 7; bytes i * 1000
    rows, count = top_reclaimable(plan, limit=3)
    expected: dict[str, int] = {}
    for item in plan.items:
        expected[item.repository] = expected.get(item.repository, 0) + item.bytes
    best = sorted(expected.items(), key=lambda kv: -kv[1])[:3]
    assert [(r.repository, r.bytes) for r in rows] == best
    assert count == len(expected)
    assert top_reclaimable(None) == ([], 0)


def test_expired_proposals_are_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    """HomeTab.content leaves out proposals past their expiry (the sweeper may not have run yet)."""
    from bot.approvals import Authorizer
    from bot.slack.home import HomeTab

    plan = big_plan(3)
    live = proposal_for(plan, id="prop-live")
    stale = proposal_for(plan, id="prop-stale", expires_at=T0 - timedelta(minutes=1))

    class Store:
        def pending(self) -> list[Proposal]:
            return [stale, live]

        def card(self, proposal: Proposal) -> Any:
            return build_card(proposal, plan, RETENTION)

    tab = HomeTab(
        client=None,  # type: ignore[arg-type]
        proposals=Store(),  # type: ignore[arg-type]
        authorizer=Authorizer(users=["U0APP"]),
        desk=None,  # type: ignore[arg-type]
        clock=lambda: T0,
    )
    home = tab.content("U0APP")
    assert [w.proposal.id for w in home.waiting] == ["prop-live"] and home.pending_total == 1
    assert tab.content("U0REQ").why_none is not None  # not an approver

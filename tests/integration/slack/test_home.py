"""The App Home tab end to end: real Bolt app over signed HTTP, the fake Slack Web API (views.publish
checked against Block Kit's limits), the real proposal store and registry; a click on the tab's Approve
button goes through the cards' approval path."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.serve.digest import DigestService
from tests.fakes.slack_api import Call
from tests.fakes.slack_limits import MAX_VIEW_BLOCKS, check_view
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, APPROVER_2, CHANNEL, OUTSIDER, REQUESTER, SlackHarness
from tests.integration.slack.test_approvals_flow import propose

CARD_CLICK_AUDIT = ["proposal_created", "proposal_approved", "execution_started", "execution_done"]


def open_home(harness: SlackHarness, user: str, *, event_id: str) -> httpx.Response:
    """Slack's app_home_opened for the Home tab."""
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.1"}
    return harness.event(event, event_id=event_id)


def home_click(harness: SlackHarness, proposal_id: str, *, user: str, approve: bool = True) -> httpx.Response:
    """A click on an Approve/Reject button of the Home tab (block_actions from a view, no channel)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "container": {"type": "view", "view_id": f"V{user}"},
        "view": {"id": f"V{user}", "type": "home", "callback_id": "regent_home", "blocks": []},
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": "regent_approve" if approve else "regent_reject",
                "block_id": f"proposal:{proposal_id}",
                "value": proposal_id,
                "action_ts": str(time.time()),
            }
        ],
    }
    return harness.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def published(harness: SlackHarness, user: str, n: int = 1, *, timeout: float = 10.0) -> list[Call]:
    """The views.publish calls for a user (at least n), each accepted by the fake and within limits."""
    calls = harness.fake.wait_for(
        "views.publish", n, timeout=timeout, where=lambda c: c.args.get("user_id") == user
    )
    for call in calls:
        assert call.ok and check_view(call.args["view"]) is None, check_view(call.args["view"])
    return calls


def actions(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in view["blocks"] if b["type"] == "actions"]


def test_home_with_nothing_pending_shows_totals_trend_last_digest_and_reclaimable(
    harness: SlackHarness,
) -> None:
    digest = DigestService(harness.service.runtime, harness.slack, channel=CHANNEL)
    try:
        sent = digest.runner.send(kind="manual")
    finally:
        digest.close()
    assert sent.status == "sent" and sent.digest is not None
    started = time.monotonic()
    response = open_home(harness, APPROVER, event_id="EvHome0")
    assert response.status_code == 200 and time.monotonic() - started < 1.0  # acked before any work
    view = published(harness, APPROVER)[-1].args["view"]
    text = json.dumps(view)
    assert "Nothing waits for your approval" in text and not actions(view)
    assert "Totals" in text and "local" in text  # the digest's overview section, the registry's row
    assert "Last digest" in text and sent.digest.headline[0] in text  # the headline as it was sent
    assert "Top reclaimable repositories" in text and "team-x/app" in text
    assert "<!channel>" not in text


def test_messages_tab_publishes_nothing(harness: SlackHarness) -> None:
    event = {"type": "app_home_opened", "user": APPROVER, "channel": "D0HOME", "tab": "messages"}
    assert harness.event(event, event_id="EvHomeM").status_code == 200
    open_home(harness, APPROVER_2, event_id="EvHomeM2")  # a later event that does publish
    published(harness, APPROVER_2)
    assert not [c for c in harness.fake.calls("views.publish") if c.args["user_id"] == APPROVER]


def test_home_approve_goes_through_the_card_path_and_republishes(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    proposal_id = propose(harness, small_registry)
    card_ts = harness.wait_card(proposal_id)
    card = harness.fake.message(CHANNEL, card_ts)
    open_home(harness, APPROVER, event_id="EvHome1")
    view = published(harness, APPROVER)[-1].args["view"]
    (buttons,) = actions(view)
    assert buttons == next(b for b in card["blocks"] if b["type"] == "actions")  # the card's own buttons
    before = len(harness.fake.calls("views.publish"))
    started = time.monotonic()
    assert home_click(harness, proposal_id, user=APPROVER).status_code == 200
    assert time.monotonic() - started < 1.0
    assert harness.wait_status(proposal_id, "done", "failed") == "done"
    assert small_registry.tags() == ["2.0"]  # executed on the real registry, once
    assert [e.kind for e in harness.audit.entries()] == CARD_CLICK_AUDIT  # as a click on the card
    assert harness.audit.entries()[1].actor == APPROVER and harness.audit.verify().ok
    calls = published(harness, APPROVER, before + 2)  # at the decision, and once it ran
    final = calls[-1].args["view"]
    assert not actions(final) and "is now done" in json.dumps(final)
    updated = harness.fake.message(CHANNEL, card_ts)  # the card in the channel shows the outcome too
    assert "regent_approve" not in json.dumps(updated["blocks"]) and "Deleted 2" in json.dumps(updated)


def test_home_follows_the_cards_rules(harness: SlackHarness, small_registry: SmallRegistry) -> None:
    own = propose(harness, small_registry, requester=APPROVER)
    open_home(harness, APPROVER, event_id="EvHome2")
    open_home(harness, APPROVER_2, event_id="EvHome3")
    open_home(harness, REQUESTER, event_id="EvHome4")
    assert not actions(published(harness, APPROVER)[-1].args["view"])  # not their own request
    (buttons,) = actions(published(harness, APPROVER_2)[-1].args["view"])
    assert buttons["block_id"] == f"proposal:{own}"
    requester_view = json.dumps(published(harness, REQUESTER)[-1].args["view"])
    assert "Only approvers can decide" in requester_view and "1 proposals are pending" in requester_view
    # A forged click from someone's Home tab is refused like a forged click on a card.
    home_click(harness, own, user=OUTSIDER)
    refused = published(harness, OUTSIDER)[-1].args["view"]
    assert "Only approvers can decide" in json.dumps(refused)
    assert harness.proposals.get(own).status == "pending"  # type: ignore[union-attr]
    assert [e.kind for e in harness.audit.entries()][-1] == "decision_refused"
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]


def test_home_with_500_pending_proposals_stays_within_limits(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    plan = small_registry.plan()
    for i in range(500):
        harness.proposals.create(
            change=plan, requester=REQUESTER, conversation=f"slack:T0TEAM:C0OPS:{i}", ttl=timedelta(hours=2)
        )
    started = time.monotonic()
    open_home(harness, APPROVER, event_id="EvHome500")
    view = published(harness, APPROVER)[-1].args["view"]
    elapsed = time.monotonic() - started
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    shown = len(actions(view))
    assert 1 <= shown <= 20 and f"and {500 - shown} more waiting for you" in json.dumps(view)
    assert elapsed < 5.0, elapsed

"""Approval cards end to end: real Bolt app over HTTP, fake Slack Web API, real registry deletes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.fakes.slack_api import check_message
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import (
    APPROVER,
    APPROVER_2,
    CHANNEL,
    GROUPIE,
    OUTSIDER,
    REQUESTER,
    SlackHarness,
)


def propose(harness: SlackHarness, small: SmallRegistry, *, requester: str = REQUESTER) -> str:
    plan = small.plan()
    assert sorted(t for item in plan.items for t in item.tags) == ["1.0", "1.1"]
    proposal = harness.proposals.create(change=plan, requester=requester, conversation="slack:T0TEAM:C0OPS:1")
    harness.slack.desk.post_cards([proposal.id], CHANNEL, None)
    return proposal.id


def card_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def test_card_shows_the_stored_plan_and_buttons_carry_only_the_id(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    proposal_id = propose(harness, small_registry)
    (post,) = harness.fake.wait_for("chat.postMessage")
    assert post.ok and check_message(post.args) is None
    blocks = post.args["blocks"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["value"] for b in buttons] == [proposal_id, proposal_id]
    assert all(b.get("confirm") for b in buttons)
    plan = harness.plans.get(harness.proposals.get(proposal_id).plan_id)  # type: ignore[union-attr]
    text = card_text(blocks)
    for item in plan.items:
        assert item.digest[7:19] in text  # every displayed item is a stored item, and vice versa
    assert "<!channel>" not in text
    assert post.authorization == "Bearer xoxb-test-token"


def test_approve_executes_on_the_real_registry_and_updates_the_card(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    proposal_id = propose(harness, small_registry)
    harness.fake.wait_for("chat.postMessage")
    started = time.monotonic()
    response = harness.click(proposal_id, user=APPROVER)
    assert response.status_code == 200 and time.monotonic() - started < 1.0
    assert harness.wait_status(proposal_id, "done", "failed") == "done"
    assert small_registry.tags() == ["2.0"]
    updates = harness.fake.wait_for("chat.update", 2)
    assert all(u.ok for u in updates)
    assert "Deleting now" in card_text(updates[0].args["blocks"])
    final = card_text(updates[-1].args["blocks"])
    assert "Deleted 2" in final and "regent_approve" not in final
    kinds = [e.kind for e in harness.audit.entries()]
    assert kinds == ["proposal_created", "proposal_approved", "execution_started", "execution_done"]
    assert harness.audit.entries()[1].actor == APPROVER and harness.audit.verify().ok


def test_group_member_may_approve(harness: SlackHarness, small_registry: SmallRegistry) -> None:
    proposal_id = propose(harness, small_registry)
    harness.click(proposal_id, user=GROUPIE)
    assert harness.wait_status(proposal_id, "done") == "done"
    assert [c.args["usergroup"] for c in harness.fake.calls("usergroups.users.list")] == ["S0OPS"]


def test_reject_deletes_nothing(harness: SlackHarness, small_registry: SmallRegistry) -> None:
    proposal_id = propose(harness, small_registry)
    harness.click(proposal_id, user=APPROVER, approve=False)
    assert harness.wait_status(proposal_id, "rejected") == "rejected"
    (update,) = harness.fake.wait_for("chat.update")
    assert "Rejected by" in card_text(update.args["blocks"])
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]


def test_non_approver_and_requester_are_refused(harness: SlackHarness, small_registry: SmallRegistry) -> None:
    proposal_id = propose(harness, small_registry, requester=APPROVER)
    harness.click(proposal_id, user=OUTSIDER)
    harness.click(proposal_id, user=APPROVER)  # the requester, an approver, approving their own
    ephemerals = harness.fake.wait_for("chat.postEphemeral", 2)
    by_user = {c.args["user"]: c.args["text"] for c in ephemerals}
    assert "Only approvers" in by_user[OUTSIDER]
    assert "another approver" in by_user[APPROVER]
    assert harness.proposals.get(proposal_id).status == "pending"  # type: ignore[union-attr]
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]
    assert not harness.fake.calls("chat.update")


def test_expired_proposal_is_refused_and_card_says_so(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    from datetime import timedelta

    plan = small_registry.plan()
    proposal = harness.proposals.create(
        change=plan, requester=REQUESTER, conversation="c", ttl=timedelta(milliseconds=50)
    )
    harness.slack.desk.post_cards([proposal.id], CHANNEL, None)
    time.sleep(0.1)
    harness.click(proposal.id, user=APPROVER)
    assert harness.wait_status(proposal.id, "expired") == "expired"
    (ephemeral,) = harness.fake.wait_for("chat.postEphemeral")
    assert "expired" in ephemeral.args["text"]
    (update,) = harness.fake.wait_for("chat.update")
    assert "Expired" in card_text(update.args["blocks"])
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]


def test_concurrent_clicks_by_two_approvers_execute_once(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    proposal_id = propose(harness, small_registry)
    harness.fake.wait_for("chat.postMessage")
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def click(user: str) -> None:
        barrier.wait()
        statuses.append(harness.click(proposal_id, user=user).status_code)

    threads = [threading.Thread(target=click, args=(u,)) for u in [APPROVER, APPROVER_2] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert harness.wait_status(proposal_id, "done") == "done"
    harness.fake.wait_for("chat.postEphemeral", 5)
    time.sleep(0.2)  # let any straggler finish, then count
    kinds = [e.kind for e in harness.audit.entries()]
    assert kinds.count("proposal_approved") == 1 and kinds.count("execution_started") == 1
    record = harness.plans.record(harness.proposals.get(proposal_id).plan_id)  # type: ignore[union-attr]
    assert record.status == "done"
    assert small_registry.tags() == ["2.0"]
    texts = [c.args["text"] for c in harness.fake.calls("chat.postEphemeral")]
    assert len(texts) == 5 and all("Already handled: " in t for t in texts)

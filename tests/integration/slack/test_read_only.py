"""`mode: read-only` in `regent serve`: `/regent plan` previews without a card, the digest has no proposal
button (a click on an old one is refused), and an Approve click on a card from before the switch deletes
nothing. The real Bolt app against the fake Slack Web API, on the real registry."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.serve.digest import DigestService
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, start_slack
from tests.integration.slack.test_digest_button import propose_click

READ_ONLY = {"mode": "read-only"}


def test_slash_plan_previews_without_a_card(tmp_path: Path, small_registry: SmallRegistry) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url, settings_extra=READ_ONLY) as harness:
        harness.command("plan team-x cleanup")
        (reply,) = harness.fake.wait_for("response_url")
        blocks = reply.args["blocks"]
        text = json.dumps(blocks)
        assert "Would delete 2 manifests" in text and "Preview only, no approval card" in text
        assert "read-only mode" in text
        assert not [b for b in blocks if b["type"] == "actions"]  # no Approve / Reject buttons
        time.sleep(0.3)  # a card would be posted right after the reply
        assert harness.fake.calls("chat.postMessage") == []
        assert harness.proposals.pending() == []
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]


def test_digest_has_no_proposal_button_and_old_clicks_are_refused(
    tmp_path: Path, small_registry: SmallRegistry
) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url, settings_extra=READ_ONLY) as harness:
        runtime = harness.service.runtime
        digest = DigestService(runtime, harness.slack, channel=CHANNEL)
        try:
            result = digest.runner.send(kind="manual")
            assert result.status == "sent" and result.ts is not None
            post = harness.fake.calls("chat.postMessage")[-1]
            assert not [b for b in post.args["blocks"] if b["type"] == "actions"]
            assert "no proposal can be made" in json.dumps(post.args["blocks"])
            plan = small_registry.plan()
            runtime.plans.save(plan)  # as if a digest from before the switch had offered it
            assert propose_click(harness, plan_id=plan.plan_id, message_ts=result.ts, user=REQUESTER) == 200
            (told,) = harness.fake.wait_for("chat.postEphemeral")
            assert "read-only mode" in told.args["text"]
            assert runtime.proposals.pending() == []
        finally:
            digest.close()


def test_an_old_card_cannot_be_approved(tmp_path: Path, small_registry: SmallRegistry) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url, settings_extra=READ_ONLY) as harness:
        runtime = harness.service.runtime
        proposal = runtime.proposals.create(
            change=small_registry.plan(), requester=REQUESTER, conversation="c"
        )
        harness.click(proposal.id, user=APPROVER)
        (told,) = harness.fake.wait_for("chat.postEphemeral")
        assert "read-only mode" in told.args["text"]
        current = runtime.proposals.get(proposal.id)
        assert current is not None and current.status == "pending"
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]

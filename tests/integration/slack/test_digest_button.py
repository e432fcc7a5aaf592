"""The digest's "Turn into a proposal" button in `regent serve`: a signed click makes one proposal from the
stored plan, its card goes into the digest's thread, and an approver's click deletes on the real registry."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

from bot.digest.model import PROPOSE_ACTION
from bot.serve.digest import DigestService, digest_service_for
from tests.fakes.slack_api import TEAM
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, SlackHarness, start_slack


def propose_click(harness: SlackHarness, *, plan_id: str, message_ts: str, user: str) -> int:
    """Deliver a signed block_actions click on the digest's button; returns the HTTP status."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0APP",
        "team": {"id": TEAM, "domain": "acme"},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "channel": {"id": CHANNEL, "name": "ops"},
        "message": {"type": "message", "ts": message_ts, "text": "digest"},
        "trigger_id": "1.2.3",
        "response_url": harness.fake.hook_url("actions/T0TEAM/1/x"),
        "actions": [
            {
                "type": "button",
                "action_id": PROPOSE_ACTION,
                "block_id": "digest-retention",
                "value": plan_id,
                "action_ts": str(time.time()),
            }
        ],
    }
    response = harness.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    return response.status_code


def test_digest_button_becomes_one_proposal_that_an_approver_runs(
    tmp_path: Path, small_registry: SmallRegistry
) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url) as harness:
        runtime = harness.service.runtime
        assert digest_service_for(runtime, slack=harness.slack) is None  # no digest channel: no schedule
        digest = DigestService(runtime, harness.slack, channel=CHANNEL)
        try:
            result = digest.runner.send(kind="manual")
            # This fake has no files API: the chart upload fails, and the posted message still counts.
            assert result.status == "sent" and result.ts is not None
            post = harness.fake.calls("chat.postMessage")[-1]
            (button,) = [e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
            plan_id = button["value"]
            assert button["action_id"] == PROPOSE_ACTION and plan_id.startswith("plan-")

            assert propose_click(harness, plan_id=plan_id, message_ts=result.ts, user=REQUESTER) == 200
            deadline = time.monotonic() + 5
            while not runtime.proposals.pending() and time.monotonic() < deadline:
                time.sleep(0.02)
            (proposal,) = runtime.proposals.pending()
            assert (proposal.plan_id, proposal.requester) == (plan_id, REQUESTER)
            card_ts = harness.wait_card(proposal.id)
            card = next(
                c for c in harness.fake.calls("chat.postMessage") if c.args.get("thread_ts") == result.ts
            )
            assert "Cleanup proposal: delete 2 manifests" in card.args["text"]

            # A second click (someone else, same digest) makes no second proposal; they are told why.
            assert propose_click(harness, plan_id=plan_id, message_ts=result.ts, user="U0OTHER") == 200
            (told,) = harness.fake.wait_for("chat.postEphemeral")
            assert f"Already proposed as {proposal.id}" in told.args["text"]
            assert len(runtime.proposals.in_status("pending")) == 1

            # A button whose plan is not stored (or was tampered with) proposes nothing.
            assert propose_click(harness, plan_id="plan-unknown", message_ts=result.ts, user=REQUESTER) == 200
            unknown = harness.fake.wait_for("chat.postEphemeral", 2)[-1]
            assert "cleanup plan is not stored" in unknown.args["text"]
            assert len(runtime.proposals.in_status("pending")) == 1

            harness.click(proposal.id, user=APPROVER, message_ts=card_ts)
            assert harness.wait_status(proposal.id, "done", "failed") == "done"
            assert small_registry.tags() == ["2.0"]
        finally:
            digest.close()

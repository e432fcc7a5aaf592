"""Inbound requests: signatures, retries and duplicate events, and `/regent` without any language model."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.fakes.slack_api import check_message
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, SlackHarness, sign, start_slack


def test_bad_signature_stale_timestamp_and_missing_headers_get_401(harness: SlackHarness) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}})
    assert harness.post(body, "application/json", {"X-Slack-Signature": "v0=" + "0" * 64}).status_code == 401
    stale = sign(body, ts=str(int(time.time()) - 600))
    assert harness.post(body, "application/json", stale).status_code == 401
    wrong_secret = sign(body, secret="not-the-secret")
    assert harness.post(body, "application/json", wrong_secret).status_code == 401
    response = harness.http.post(
        harness.events_url, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert not [c for c in harness.fake.calls() if c.method != "auth.test"]


def test_retries_and_duplicate_event_ids_are_processed_once(tmp_path: Path) -> None:
    with start_slack(tmp_path) as harness:
        first = harness.mention("what is stale?", event_id="EvDUP")
        retry = harness.mention("what is stale?", event_id="EvDUP")  # a retry carries the same event_id
        assert first.status_code == retry.status_code == 200
        harness.event(
            {
                "type": "app_mention",
                "user": REQUESTER,
                "text": "<@U0BOT> hi",
                "ts": "1.2",
                "channel": CHANNEL,
            },
            event_id="EvDUP",
            retry=1,
        )
        harness.fake.wait_for("chat.postMessage")
        time.sleep(0.3)
        assert len(harness.fake.calls("chat.postMessage")) == 1
    with start_slack(tmp_path) as restarted:  # same state DB: a retry after a restart is still a duplicate
        restarted.mention("what is stale?", event_id="EvDUP")
        restarted.mention("another question", event_id="EvNEW")
        restarted.fake.wait_for("chat.postMessage")
        time.sleep(0.3)
        assert len(restarted.fake.calls("chat.postMessage")) == 1


def test_mention_without_a_language_model_points_to_slash_commands(harness: SlackHarness) -> None:
    started = time.monotonic()
    assert harness.mention("which images are stale?", event_id="Ev1").status_code == 200
    assert time.monotonic() - started < 1.0
    (post,) = harness.fake.wait_for("chat.postMessage")
    assert "/regent help" in post.args["text"] and post.args["thread_ts"] == "1700000000.000100"
    assert check_message(post.args) is None


def test_help_is_the_ack_itself(harness: SlackHarness) -> None:
    response = harness.command("")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and check_message(body) is None
    text = json.dumps(body["blocks"])
    for sub in ("image", "stale", "usage", "plan"):
        assert f"/regent {sub}" in text
    unknown = harness.command("frobnicate now").json()
    assert "Unknown subcommand" in json.dumps(unknown["blocks"])


def test_image_report_escapes_registry_text(harness: SlackHarness) -> None:
    response = harness.command("image team-x/app:2.0")
    assert response.status_code == 200 and "Working on" in response.json()["text"]
    (reply,) = harness.fake.wait_for("response_url")
    assert reply.ok and reply.args["response_type"] == "ephemeral"
    text = json.dumps(reply.args["blocks"])
    assert "team-x/app:2.0" in text
    assert "&lt;!channel&gt; app" in text and "<!channel>" not in text


def test_stale_and_usage_reports(harness: SlackHarness) -> None:
    harness.command("stale 90")
    harness.command("usage")
    replies = harness.fake.wait_for("response_url", 2)
    assert all(r.ok for r in replies)
    texts = sorted(json.dumps(r.args["blocks"]) for r in replies)
    stale = next(t for t in texts if "Stale images" in t)
    assert "2 digests" in stale and "1.0" in stale and "1.1" in stale
    assert any("Storage usage" in t and "team-x/app" in t for t in texts)
    kinds = [e.kind for e in harness.audit.entries()]
    assert kinds.count("slash_command") == 2


def test_plan_command_posts_a_card_that_an_approver_executes(
    harness: SlackHarness, small_registry: SmallRegistry
) -> None:
    harness.command("plan team-x cleanup")
    (reply,) = harness.fake.wait_for("response_url")
    assert "Deletes 2 manifests" in json.dumps(reply.args["blocks"])
    (card,) = harness.fake.wait_for("chat.postMessage")
    assert card.args["channel"] == CHANNEL and check_message(card.args) is None
    (proposal,) = harness.proposals.pending()
    assert proposal.requester == REQUESTER
    assert harness.wait_card(proposal.id) == card.args.get("ts", "1790000000.000001")
    harness.click(proposal.id, user=APPROVER)
    assert harness.wait_status(proposal.id, "done") == "done"
    assert small_registry.tags() == ["2.0"]


def test_plan_command_errors_are_short_and_change_nothing(harness: SlackHarness) -> None:
    harness.command("plan no-such-policy")
    harness.command("plan")
    replies = harness.fake.wait_for("response_url", 2)
    texts = " ".join(json.dumps(r.args["blocks"]) for r in replies)
    assert "team-x cleanup" in texts  # both say which policies exist
    assert "Traceback" not in texts and not harness.proposals.pending()


def test_rate_limited_web_api_calls_are_retried(tmp_path: Path) -> None:
    with start_slack(tmp_path) as harness:
        harness.fake.state.rate_limit_next["chat.postMessage"] = 1
        harness.mention("hello", event_id="Ev429")
        calls = harness.fake.wait_for("chat.postMessage", 2, timeout=10)
        assert [c.ok for c in calls] == [False, True]

"""Questions answered by the real Agent (openai SDK against the fake OpenAI server), in Slack."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI, tool_messages
from tests.fakes.slack_api import TEAM, Call, check_message
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, SlackHarness, start_slack

DM = "D0DM"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    """One fake LLM for the module (its shutdown is slow); tests push their own script steps."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def with_llm(tmp_path: Path, small_registry: SmallRegistry, llm: FakeOpenAI) -> Iterator[SlackHarness]:
    """`regent serve` on the small registry with the fake LLM."""
    with start_slack(tmp_path, registry_url=small_registry.server.url, llm_url=llm.base_url) as running:
        yield running


def has_blocks(call: Call) -> bool:
    """A chat.update that carries an answer (progress updates are text only)."""
    return bool(call.args.get("blocks"))


def blocks_text(call_args: dict[str, Any]) -> str:
    return json.dumps(call_args.get("blocks", [])) + str(call_args.get("text", ""))


def test_mention_is_answered_with_safe_mrkdwn_and_a_table(with_llm: SlackHarness, llm: FakeOpenAI) -> None:
    before = len(llm.requests)
    answer = (
        "**team-x/app:2.0** is small.\n\n| repository | size |\n|---|---|\n| team-x/app | 10 KiB |\n\n"
        "Label says <!channel> and [docs](https://example.com)."
    )
    llm.push(
        {"tool_calls": [{"name": "get_image", "arguments": {"image": "team-x/app:2.0", "registry": None}}]},
        {"content": answer},
    )
    with_llm.mention("how big is team-x/app:2.0?", event_id="EvQ1")
    (placeholder,) = with_llm.fake.wait_for("chat.postMessage")
    assert "Looking into it" in placeholder.args["text"]
    final = with_llm.fake.wait_for("chat.update", where=has_blocks)[-1]
    assert final.ok and check_message(final.args) is None
    text = blocks_text(final.args)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "```" in text and "repository" in text and "*team-x/app:2.0*" in text
    requests = llm.requests[before:]
    assert len(requests) == 2 and "team-x/app" in json.dumps(tool_messages(requests[1]))
    assert any(e.kind == "tool_call" and e.actor == REQUESTER for e in with_llm.audit.entries())


def test_assistant_thread_greets_titles_and_shows_status(with_llm: SlackHarness, llm: FakeOpenAI) -> None:
    thread = {
        "user_id": REQUESTER,
        "channel_id": DM,
        "thread_ts": "1700000001.000100",
        "context": {"channel_id": CHANNEL, "team_id": TEAM},
    }
    with_llm.event(
        {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": "1.1"}, event_id="EvT1"
    )
    prompts = with_llm.fake.wait_for("assistant.threads.setSuggestedPrompts")[0]
    assert prompts.args["channel_id"] == DM and len(prompts.args["prompts"]) >= 3
    llm.push({"content": "Nothing is stale."})
    message = {
        "type": "message",
        "channel_type": "im",
        "channel": DM,
        "user": REQUESTER,
        "text": "anything stale?",
        "ts": "1700000002.000100",
        "thread_ts": "1700000001.000100",
    }
    with_llm.event(message, event_id="EvT2")
    status = with_llm.fake.wait_for("assistant.threads.setStatus")[0]
    assert status.args["thread_ts"] == "1700000001.000100"
    title = with_llm.fake.wait_for("assistant.threads.setTitle")[0]
    assert title.args["title"] == "anything stale?"
    posts = with_llm.fake.wait_for("chat.postMessage", 2)
    assert (
        "Nothing is stale." in blocks_text(posts[-1].args)
        and posts[-1].args["thread_ts"] == "1700000001.000100"
    )


def test_agent_proposal_gets_a_card_and_is_executed_on_approval(
    with_llm: SlackHarness, llm: FakeOpenAI, small_registry: SmallRegistry
) -> None:
    llm.push(
        {
            "tool_calls": [
                {
                    "name": "propose_retention_cleanup",
                    "arguments": {"policy_name": "team-x cleanup", "policy": None},
                }
            ]
        },
        {"content": "I proposed the cleanup: 2 old images. An approver has to approve it."},
    )
    with_llm.mention("please clean up the old team-x images", event_id="EvP1")
    posts = with_llm.fake.wait_for("chat.postMessage", 2)
    card = posts[-1]
    assert "regent_approve" in blocks_text(card.args) and card.args["thread_ts"] == "1700000000.000100"
    (proposal,) = with_llm.proposals.pending()
    assert proposal.requester == REQUESTER
    with_llm.wait_card(proposal.id)
    with_llm.click(proposal.id, user=REQUESTER)  # the requester cannot approve their own
    with_llm.fake.wait_for("chat.postEphemeral")
    with_llm.click(proposal.id, user=APPROVER)
    assert with_llm.wait_status(proposal.id, "done") == "done"
    assert small_registry.tags() == ["2.0"]


def test_llm_down_gives_a_clear_reply_and_slash_commands_still_work(
    tmp_path: Path, small_registry: SmallRegistry
) -> None:
    with start_slack(
        tmp_path, registry_url=small_registry.server.url, llm_url="http://127.0.0.1:9/v1"
    ) as harness:
        harness.mention("what is stale?", event_id="EvD1")
        update = harness.fake.wait_for("chat.update", timeout=15, where=has_blocks)[-1]
        text = blocks_text(update.args)
        assert "language model" in text and "Reference" in text and "/regent help" in text
        assert "Traceback" not in text
        harness.command("stale")
        (reply,) = harness.fake.wait_for("response_url")
        assert "Stale images" in blocks_text(reply.args)


def test_acks_stay_fast_while_the_llm_is_slow(with_llm: SlackHarness, llm: FakeOpenAI) -> None:
    llm.push(*[{"delay": 1.5, "content": f"answer {i}"} for i in range(6)])
    latencies: list[float] = []
    lock = threading.Lock()

    def mention(i: int) -> None:
        started = time.monotonic()
        response = with_llm.mention(f"question {i}", event_id=f"EvS{i}", ts=f"1700000100.00{i:04d}")
        with lock:
            latencies.append(time.monotonic() - started)
        assert response.status_code == 200

    threads = [threading.Thread(target=mention, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.2)  # the LLM is now busy with the first four; a command and a click must still ack fast
    started = time.monotonic()
    assert with_llm.command("help").status_code == 200
    assert with_llm.click("prop-none", user=APPROVER).status_code == 200
    assert time.monotonic() - started < 1.0
    assert max(latencies) < 1.0, latencies
    answered = with_llm.fake.wait_for("chat.update", 6, timeout=15, where=has_blocks)
    assert len({u.args["ts"] for u in answered}) == 6

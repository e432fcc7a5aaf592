"""Answers that appear as they are written: the real Agent with a streaming LLM client (openai SDK against
the fake OpenAI server's SSE), the real Bolt app over signed HTTP, and the fake Slack Web API, which
implements chat.startStream / appendStream / stopStream, or refuses them like a workspace without them."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import TEAM, Call
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import CHANNEL, REQUESTER, SlackHarness, start_slack

MENTION_TS = "1700000000.000100"
ANSWER = (
    "team-x/app:2.0 is the newest of three tags in team-x/app. It shares its alpine base layers with "
    "1.0 and 1.1, so deleting those two frees only their own layers. Nothing in any environment runs "
    "1.0 or 1.1 today, which is why the retention policy would delete them. **Keep 2.0**: it is the only "
    "tag that was pushed this year, and it is small: most of its bytes are the shared base image layers. "
    "Ask me for a cleanup proposal when you want the two old tags gone; an approver has to approve it."
)
GET_IMAGE = {"name": "get_image", "arguments": {"image": "team-x/app:2.0", "registry": None}}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    """One fake LLM for the module; tests push their own script steps."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def streaming(tmp_path: Path, small_registry: SmallRegistry, llm: FakeOpenAI) -> Iterator[SlackHarness]:
    """`regent serve` with `llm.stream: true` on the small registry."""
    with start_slack(
        tmp_path,
        registry_url=small_registry.server.url,
        llm_url=llm.base_url,
        settings_extra={"llm": {"stream": True}},
    ) as running:
        yield running


def gaps(calls: list[Call]) -> list[float]:
    return [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]


def mention(harness: SlackHarness, event_id: str, *, ts: str = MENTION_TS) -> float:
    """A signed app_mention; returns how long Slack would have waited for the ack."""
    started = time.monotonic()
    response = harness.mention("how big is team-x/app:2.0?", event_id=event_id, ts=ts)
    assert response.status_code == 200
    return time.monotonic() - started


def test_the_answer_streams_into_the_thread_as_it_is_written(
    streaming: SlackHarness, llm: FakeOpenAI
) -> None:
    llm.push({"tool_calls": [GET_IMAGE]}, {"content": ANSWER, "chunk_delay": 0.1})
    assert mention(streaming, "EvS1") < 3.0
    (stop,) = streaming.fake.wait_for("chat.stopStream", timeout=20)
    (start,) = streaming.fake.calls("chat.startStream")
    appends = streaming.fake.calls("chat.appendStream")
    assert start.ok and stop.ok and all(a.ok for a in appends)
    assert start.args["channel"] == CHANNEL and start.args["thread_ts"] == MENTION_TS
    assert start.args["recipient_team_id"] == TEAM and start.args["recipient_user_id"] == REQUESTER
    chunks = streaming.fake.streamed(CHANNEL, stop.args["ts"])
    assert "".join(chunks) == ANSWER  # the streamed message is the answer, exactly
    assert len(appends) >= 1 and len(chunks) >= 3  # it arrived in pieces while the model wrote
    assert all(gap >= 0.9 for gap in gaps([start, *appends]))  # appends at most once a second
    # The placeholder ("Looking into it…") is gone; no answer was posted the old way.
    (placeholder,) = streaming.fake.calls("chat.postMessage")
    assert "Looking into it" in placeholder.args["text"]
    (delete,) = streaming.fake.wait_for("chat.delete")
    with streaming.fake.state.cond:
        left = [ts for (channel, ts) in streaming.fake.state.messages if channel == CHANNEL]
    assert delete.ok and left == [stop.args["ts"]]  # only the streamed answer is in the thread
    assert not [c for c in streaming.fake.calls("chat.update") if c.args.get("blocks")]


def test_text_written_before_a_tool_call_is_taken_back(streaming: SlackHarness, llm: FakeOpenAI) -> None:
    preamble = "Let me look that image up in the registry inventory first."
    llm.push(
        {"content": preamble, "tool_calls": [GET_IMAGE], "chunk_delay": 0.02},
        {"content": ANSWER, "chunk_delay": 0.01},
    )
    mention(streaming, "EvS2")
    stop = streaming.fake.wait_for("chat.stopStream", 2, timeout=20)[-1]
    streaming.fake.wait_for("chat.delete", 2)
    starts = streaming.fake.calls("chat.startStream")
    assert "".join(streaming.fake.streamed(CHANNEL, stop.args["ts"])) == ANSWER
    deleted = {c.args["ts"] for c in streaming.fake.calls("chat.delete") if c.ok}
    assert len(deleted) == 2 and stop.args["ts"] not in deleted  # the preamble's stream, the placeholder
    with streaming.fake.state.cond:
        shown = [m["text"] for m in streaming.fake.state.messages.values()]
    assert not any(preamble[:20] in text for text in shown)
    assert len(starts) == 2 and all(start.ok for start in starts)


def test_without_streaming_the_placeholder_is_updated_at_most_once_a_second(
    streaming: SlackHarness, llm: FakeOpenAI
) -> None:
    streaming.fake.state.stream_error = "unknown_method"  # an older workspace
    llm.push({"content": ANSWER, "chunk_delay": 0.1})
    mention(streaming, "EvS3")
    final = streaming.fake.wait_for(
        "chat.update", timeout=20, where=lambda c: ANSWER[-40:] in json.dumps(c.args)
    )
    (refused,) = streaming.fake.calls("chat.startStream")
    assert refused.ok is False
    updates = streaming.fake.calls("chat.update")
    partial = [u for u in updates if u.args.get("blocks") and u is not final[-1]]
    assert len(partial) >= 2  # the text grew in the placeholder while the model wrote
    assert all(gap >= 0.9 for gap in gaps(updates[: len(partial)]))  # bounded rate
    assert "Keep 2.0" in json.dumps(final[-1].args)  # the formatted answer replaced the placeholder
    # The workspace's refusal is remembered: the next answer does not try to stream again.
    llm.push({"content": "Still the same three tags.", "chunk_delay": 0.05})
    mention(streaming, "EvS4", ts="1700000001.000100")
    streaming.fake.wait_for("chat.update", timeout=20, where=lambda c: "Still the same" in json.dumps(c.args))
    assert len(streaming.fake.calls("chat.startStream")) == 1


def test_the_assistant_status_shows_the_tool_while_the_answer_streams(
    streaming: SlackHarness, llm: FakeOpenAI
) -> None:
    thread = "1700000001.000100"
    llm.push({"delay": 1.6, "tool_calls": [GET_IMAGE]}, {"content": ANSWER, "chunk_delay": 0.02})
    message = {
        "type": "message",
        "channel_type": "im",
        "channel": "D0DM",
        "user": REQUESTER,
        "text": "how big is team-x/app:2.0?",
        "ts": "1700000002.000100",
        "thread_ts": thread,
    }
    assert streaming.event(message, event_id="EvS5").status_code == 200
    stop = streaming.fake.wait_for("chat.stopStream", timeout=20)[-1]
    statuses = [c.args["status"] for c in streaming.fake.calls("assistant.threads.setStatus")]
    assert any("team-x/app:2.0" in status for status in statuses), statuses  # the tool in use
    assert "".join(streaming.fake.streamed("D0DM", stop.args["ts"])) == ANSWER
    assert streaming.fake.calls("chat.startStream")[0].args["thread_ts"] == thread


def test_acks_stay_fast_while_answers_stream(streaming: SlackHarness, llm: FakeOpenAI) -> None:
    count = 6
    llm.push(*({"content": ANSWER, "chunk_delay": 0.03} for _ in range(count)))
    acks: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        elapsed = mention(streaming, f"EvL{i}", ts=f"1700000100.{i:06d}")
        with lock:
            acks.append(elapsed)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # mentions arrive while earlier answers are streaming
    for thread in threads:
        thread.join()
    streaming.fake.wait_for("chat.stopStream", count, timeout=60)
    assert len(acks) == count and max(acks) < 3.0, acks

"""Live answer text (bot/agent/streaming.py): scrubbed even when a secret is split, a prefix of the reply,
retracted when the model turns to tools, bounded by the reply limit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.agent.llm import Completion, ToolCallRequest
from bot.agent.loop import REDACTED, Agent, AgentLimits
from bot.agent.prompts import Prompts
from bot.agent.streaming import StreamTap, emit_text, text_sink
from tests.fakes.synthetic import NOW, synthetic_snapshot
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox

SECRET = "xoxb-super-secret-token-1234"


class Recorder:
    """An AnswerStream that keeps what a front end would show."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def write(self, text: str) -> None:
        self.events.append(("write", text))

    def retract(self) -> None:
        self.events.append(("retract", ""))

    @property
    def shown(self) -> str:
        """The text written since the last retract."""
        text = ""
        for kind, piece in self.events:
            text = "" if kind == "retract" else text + piece
        return text


class StreamingModel:
    """A ChatModel that emits each completion's content in pieces, as the SSE client does."""

    def __init__(self, *steps: tuple[list[str], list[str]]) -> None:
        self.steps = list(steps)  # (content pieces, tool names)

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        pieces, names = self.steps.pop(0)
        for piece in pieces:
            emit_text(piece)
        calls = [ToolCallRequest(f"c{i}", name, "{}") for i, name in enumerate(names)]
        return Completion(content="".join(pieces) or None, tool_calls=calls, finish_reason="stop")


@pytest.fixture
def toolbox() -> Toolbox:
    snapshot = synthetic_snapshot(tags=20)
    return Toolbox(ToolContext(snapshot=lambda: snapshot, now=lambda: NOW))


def agent(model: StreamingModel, toolbox: Toolbox, **options: Any) -> Agent:
    return Agent(
        llm=model,
        toolbox=toolbox,
        prompts=Prompts(),
        clock=lambda: NOW,
        secrets_to_redact=[SECRET],
        **options,
    )


def test_the_answer_streams_and_text_before_a_tool_call_is_retracted(toolbox: Toolbox) -> None:
    model = StreamingModel(
        (["Let me look that up in the inventory ", "before I answer you."], ["list_registries"]),
        (["  There is ", "one registry", " (local), holding ", "20 tags in total.", "\n"], []),
    )
    stream = Recorder()
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="registries?", stream=stream)
    assert reply.error is None and reply.text == "There is one registry (local), holding 20 tags in total."
    kinds = [kind for kind, _ in stream.events]
    assert kinds[0] == "write" and kinds.count("retract") == 1
    assert stream.shown == reply.text  # the front end shows exactly the reply, nothing of the preamble
    assert len([k for k in kinds[kinds.index("retract") :] if k == "write"]) >= 2  # in pieces, live


def test_a_reply_shorter_than_the_hold_back_is_left_to_the_front_end(toolbox: Toolbox) -> None:
    """Nothing reached the stream live (a secret could still have been forming): the stream stays empty."""
    model = StreamingModel((["One ", "registry."], []))
    stream = Recorder()
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="q", stream=stream)
    assert reply.text == "One registry." and stream.events == []


def test_a_secret_split_across_pieces_never_reaches_the_stream(toolbox: Toolbox) -> None:
    half = len(SECRET) // 2
    model = StreamingModel((["The token is ", SECRET[:half], SECRET[half:], " and that is all."], []))
    stream = Recorder()
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="token?", stream=stream)
    sent = "".join(piece for _, piece in stream.events)
    assert SECRET not in sent and SECRET[:half] not in sent and SECRET[half:] not in sent
    assert REDACTED in reply.text and stream.shown == reply.text


def test_the_stream_stops_at_the_reply_limit(toolbox: Toolbox) -> None:
    """The reply is cut at the limit: nothing past the cut went out live, and the stream ends as the reply."""
    limits = AgentLimits(max_reply_chars=40)
    model = StreamingModel((["x" * 30, "y" * 30], []))
    stream = Recorder()
    reply = agent(model, toolbox, limits=limits).answer(conversation="c", user="u", text="q", stream=stream)
    assert reply.truncated and len(reply.text) == 40 and reply.text.endswith("…")
    assert stream.shown == reply.text  # live up to the cut, then completed with the "…"


def test_without_a_stream_nothing_is_emitted_anywhere(toolbox: Toolbox) -> None:
    model = StreamingModel((["plain ", "answer"], []))
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="q")
    assert reply.text == "plain answer"
    emit_text("outside any answer")  # no sink: ignored


def test_a_failing_front_end_does_not_cost_the_answer(toolbox: Toolbox) -> None:
    class Broken(Recorder):
        def write(self, text: str) -> None:
            raise RuntimeError("slack is down")

    model = StreamingModel((["fine ", "answer"], []))
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="q", stream=Broken())
    assert reply.error is None and reply.text == "fine answer"


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.text(alphabet="ab xyz-\n", max_size=12), max_size=12),
    secret=st.sampled_from(["xyz-ab", "ab ab ab", "zzzzzz"]),
)
def test_tap_output_is_always_the_scrubbed_stripped_reply_prefix(pieces: list[str], secret: str) -> None:
    def scrub(text: str) -> str:
        return text.replace(secret, REDACTED)

    stream = Recorder()
    tap = StreamTap(stream, scrub=scrub, hold=len(secret) - 1, limit=1000)
    with text_sink(tap.piece):
        for piece in pieces:
            emit_text(piece)
    final = scrub("".join(pieces).strip())
    assert final.startswith(stream.shown)
    assert secret not in "".join(piece for _, piece in stream.events)

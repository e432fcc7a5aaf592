"""Loop rules that need no HTTP: a scripted ChatModel (the loop's own protocol) and a real toolbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.agent.llm import Completion, ToolCallRequest
from bot.agent.loop import Agent, AgentLimits, ToolCallEvent
from bot.agent.memory import ConversationMemory
from bot.agent.prompts import Prompts
from tests.fakes.synthetic import NOW, synthetic_snapshot
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox


class ScriptedModel:
    """Answers from a list of completions and keeps what it was sent."""

    def __init__(self, *completions: Completion) -> None:
        self.completions = list(completions)
        self.sent: list[list[dict[str, Any]]] = []
        self.tools: list[list[dict[str, Any]] | None] = []

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        self.sent.append(messages)
        self.tools.append(tools)
        return self.completions.pop(0)


def calls(*names: str) -> Completion:
    return Completion(
        content=None, tool_calls=[ToolCallRequest(f"c{i}", n, "{}") for i, n in enumerate(names)]
    )


@pytest.fixture
def toolbox() -> Toolbox:
    snapshot = synthetic_snapshot(tags=20)
    return Toolbox(ToolContext(snapshot=lambda: snapshot, now=lambda: NOW))


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[ConversationMemory]:
    store = ConversationMemory(tmp_path / "m.db", keep_turns=3, ttl=timedelta(days=1))
    yield store
    store.close()


def agent(model: ScriptedModel, toolbox: Toolbox, **options: Any) -> Agent:
    return Agent(llm=model, toolbox=toolbox, prompts=Prompts(), clock=lambda: NOW, **options)


def test_a_failing_audit_log_stops_the_tool_and_the_answer(toolbox: Toolbox) -> None:
    ran: list[str] = []

    def broken(event: ToolCallEvent) -> None:
        ran.append(event.tool)
        raise OSError("disk full")

    model = ScriptedModel(calls("list_registries"), Completion(content="never"))
    reply = agent(model, toolbox, audit=broken).answer(conversation="c", user="u", text="registries?")
    assert ran == ["list_registries"] and len(model.sent) == 1
    assert reply.error == "Something went wrong on my side while answering." and reply.reference in reply.text


def test_a_broken_status_callback_does_not_cost_the_answer(toolbox: Toolbox) -> None:
    def status(_message: str) -> None:
        raise RuntimeError("slack is down")

    model = ScriptedModel(calls("list_registries"), Completion(content="one registry"))
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="registries?", status=status)
    assert reply.text == "one registry" and reply.error is None


def test_too_many_calls_in_one_step_are_refused_beyond_the_limit(toolbox: Toolbox) -> None:
    model = ScriptedModel(
        calls("list_registries", "list_environments", "registry_usage"), Completion(content="ok")
    )
    agent(model, toolbox, limits=AgentLimits(max_tool_calls_per_step=2)).answer(
        conversation="c", user="u", text="x"
    )
    results = [m for m in model.sent[1] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["c0", "c1", "c2"]
    assert "too many tool calls at once" in json.loads(results[2]["content"])["error"]


def test_secret_values_are_replaced_in_everything_sent(toolbox: Toolbox) -> None:
    secret = "hunter2-but-longer"
    model = ScriptedModel(Completion(content=f"you said {secret}"))
    reply = agent(model, toolbox, secrets_to_redact=[secret, "abc"]).answer(
        conversation="c", user="u", text=f"my password is {secret} abc"
    )
    sent = json.dumps(model.sent)
    assert secret not in sent and "[redacted]" in sent and "abc" in sent  # too short to redact safely
    assert secret not in reply.text


def test_a_long_answer_is_cut_and_marked(toolbox: Toolbox) -> None:
    model = ScriptedModel(Completion(content="x" * 500))
    reply = agent(model, toolbox, limits=AgentLimits(max_reply_chars=100)).answer(
        conversation="c", user="u", text="?"
    )
    assert len(reply.text) == 100 and reply.text.endswith("…") and reply.truncated


def search(**arguments: Any) -> Completion:
    return Completion(
        content=None, tool_calls=[ToolCallRequest("c0", "search_images", json.dumps(arguments))]
    )


def test_an_answer_from_a_cut_list_ends_with_the_cut_note(toolbox: Toolbox) -> None:
    # 20 tags in the snapshot, 5 listed: the model names five as if they were all.
    model = ScriptedModel(search(limit=5), Completion(content="The tags are a, b, c, d and e."))
    reply = agent(model, toolbox).answer(conversation="c", user="u", text="List all tags")
    assert reply.text.startswith("The tags are a, b, c, d and e.\n_(partial list: showing 5 of 20 matching")
    assert "narrow with" in reply.text


def test_no_cut_note_when_the_answer_says_it_or_nothing_was_cut(toolbox: Toolbox) -> None:
    said = ScriptedModel(search(limit=5), Completion(content="A partial list: a, b, c, d, e."))
    assert agent(said, toolbox).answer(conversation="c", user="u", text="tags?").text == (
        "A partial list: a, b, c, d, e."
    )
    whole = ScriptedModel(search(limit=50), Completion(content="All 20 tags: …"))
    assert agent(whole, toolbox).answer(conversation="c", user="u", text="tags?").text == "All 20 tags: …"


def test_memory_keeps_the_last_turns_and_forgets_old_ones(memory: ConversationMemory) -> None:
    for number in range(5):
        memory.remember("t", user="u", question=f"q{number}", answer=f"a{number}", now=NOW)
    assert [t.question for t in memory.recent("t", turns=10)] == ["q2", "q3", "q4"]
    memory.remember("other", user="u", question="new", answer="n", now=NOW + timedelta(days=2))
    assert memory.recent("t", turns=10) == []  # older than the ttl
    assert [t.answer for t in memory.recent("other", turns=1)] == ["n"]

"""Tool selection: a question is shown the core plus the groups its words ask for; nothing becomes
unreachable, and selection never widens what the proposal gate allows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.agent.intent import asked_intents
from bot.agent.llm import Completion
from bot.agent.loop import Agent
from bot.agent.prompts import Prompts
from bot.agent.toolsets import CORE, grouped_tools, select_tools
from bot.approvals.audit import AuditLog
from bot.assistant import build_agent
from bot.config import Secrets, Settings
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox
from tools.toolbox.specs import default_tools

TOOLBOX = Toolbox(ToolContext(snapshot=lambda: None))
PROPOSING = {spec.name for spec in default_tools() if spec.proposes}


def shown(text: str, *, previous: str | None = None) -> list[str]:
    """What the loop would show for this message (the gate's allowance included)."""
    texts = [text, previous] if previous else [text]
    intents = asked_intents(text) | (asked_intents(previous) if previous else frozenset())
    allowed = TOOLBOX.names(proposing=intents)
    return select_tools(allowed, texts=texts, intents=intents)


def test_every_tool_can_be_shown() -> None:
    assert {spec.name for spec in default_tools()} <= grouped_tools()


@pytest.mark.parametrize(
    ("question", "expected", "absent"),
    [
        ("How big is shop/api:1.4.0?", {"get_image", "list_registries"}, {"registry_usage"}),
        ("What is shop/web:2.1.0 built on?", {"get_image"}, {"recommend_base_image"}),
        ("Which base image should we use for a new Python service?", {"recommend_base_image"}, set()),
        ("Where is shop/api:1.4.0 running?", {"image_usage", "get_image"}, {"registry_usage"}),
        ("What is wasting space in our registry?", {"registry_usage", "find_stale_images"}, {"get_cve"}),
        ("How much bigger is shop/api:1.4.0 than 1.3.0?", {"compare_images"}, set()),
        ("Which vulnerabilities should we fix first?", {"vulnerability_report", "get_cve"}, set()),
        ("How many of our images are signed, for the auditors?", {"compliance_report"}, set()),
        ("Any suspicious pulls from unusual addresses?", {"access_anomalies"}, set()),
        ("Should we put a pull-through cache in front of Docker Hub?", {"cache_advice"}, set()),
        ("If we kept only 2 tags, how much would come back?", {"preview_retention_policy"}, set()),
        (
            "If we kept only the 2 newest tags of shop/api and removed images older than 180 days, how much "
            "space would come back? Just tell me, don't change anything.",
            {"preview_retention_policy"},
            {"find_stale_images"},
        ),
        ("Which stale images would our retention policy keep?", {"find_stale_images"}, set()),
        ("Are there any dangling (untagged) images left in the registry?", set(), {"find_stale_images"}),
        ("Which stale or untagged images can go?", {"find_stale_images"}, set()),
        ("What do we have in there?", {"list_registries"}, {"registry_usage"}),
        ("And what base image is it built on?", set(), {"recommend_base_image"}),
    ],
)
def test_questions_get_their_tools(question: str, expected: set[str], absent: set[str]) -> None:
    names = shown(question)
    assert set(CORE) <= set(names) and expected <= set(names), names
    assert not absent & set(names), names
    assert len(names) <= 9, names  # the point: far fewer than the 17 read-only tools


def test_the_order_is_core_then_the_toolboxs_and_only_allowed_tools_are_shown() -> None:
    names = shown("Delete the stale images of team-x, and compare the vulnerabilities of what runs")
    everything = TOOLBOX.names(proposing=True)
    assert names[: len(CORE)] == list(CORE)
    assert names[len(CORE) :] == [name for name in everything if name in names and name not in CORE]
    assert "propose_retention_cleanup" in names and "propose_deletion" not in names  # a broad cleanup
    assert "propose_user_suspension" not in names  # the gate did not allow it; selection cannot add it


def test_a_cleanup_request_is_shown_its_proposing_tool_and_no_preview() -> None:
    named = shown("Please delete shop/api:1.2.0.")
    assert "propose_deletion" in named
    assert not {"preview_retention_policy", "propose_retention_cleanup"} & set(named)
    broad = shown("Clean up the team-x/batch images older than 90 days")
    assert "propose_retention_cleanup" in broad and "propose_deletion" not in broad
    assert not {"find_stale_images", "preview_retention_policy"} & set(broad)  # 'older than' asked for them


@pytest.mark.parametrize("question", ["Can you recommend a good pizza place in Berlin?", "hi", "a joke?"])
def test_a_message_about_nothing_the_toolbox_knows_gets_no_tools(question: str) -> None:
    assert shown(question) == []


def test_specific_proposing_tools_need_their_own_words() -> None:
    cleanup = set(shown("Please delete shop/api:1.2.0."))
    assert "propose_deletion" in cleanup
    assert not {"propose_garbage_collection", "propose_cache_configuration"} & cleanup
    assert "propose_garbage_collection" in shown("Delete the old tags and run garbage collection")


def test_a_follow_up_keeps_the_previous_questions_tools() -> None:
    assert "image_usage" in shown("and the other one?", previous="Where does shop/api:1.4.0 run?")
    assert "image_usage" not in shown("and the other one?")


class _NoModel:
    """A model that must not be asked."""

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        raise AssertionError("the model was asked")


def test_with_the_scope_reply_an_off_topic_message_is_answered_without_the_model() -> None:
    agent = Agent(llm=_NoModel(), toolbox=TOOLBOX, prompts=Prompts(), scope_reply=True)
    reply = agent.answer(conversation="c", user="u", text="Can you recommend a good pizza place in Berlin?")
    assert reply.error is None and reply.text.startswith("I can only help with the container images")
    agent.close()


class _Recording:
    """A model that answers at once and keeps the tool names each request offered."""

    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        self.offered.append([tool["function"]["name"] for tool in tools or []])
        return Completion(content="It is 12 MB.", tool_calls=[])


@pytest.mark.parametrize("select", [True, False])
def test_llm_select_tools_false_sends_every_allowed_schema(tmp_path: Path, select: bool) -> None:
    model = _Recording()
    settings = Settings.model_validate({"llm": {"select_tools": select}})
    agent = build_agent(
        model=model,
        toolbox=TOOLBOX,
        audit=AuditLog(tmp_path / "audit.db"),
        settings=settings,
        secrets=Secrets(),
        db=tmp_path / "memory.db",
        latest_snapshot=lambda: None,
        clock=lambda: datetime(2026, 12, 6, tzinfo=UTC),
    )
    agent.answer(conversation="c", user="u", text="How big is shop/api:1.4.0?")
    agent.close()
    every = TOOLBOX.names(proposing=frozenset())
    if select:
        assert set(model.offered[0]) == set(shown("How big is shop/api:1.4.0?")) < set(every)
    else:
        assert sorted(model.offered[0]) == sorted(every)

"""Run one eval case: seed a fresh registry, crawl, ask the agent, and judge the answer by rules.

Rules first (HolmesGPT's lesson): facts must appear, tools must or must not have been called, the
number of proposals must match. No LLM judge: every expected fact comes from deterministic code.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.agent.llm import ChatModel
from bot.agent.loop import AgentReply
from bot.app import build_app
from bot.config import LLMEnv, LLMSettings, Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.evals.cases import EvalCase, EvalEnv


@dataclass(slots=True)
class EvalResult:
    """What happened and what was wrong with it."""

    case: str
    reply: AgentReply
    tools: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every rule held."""
        return not self.problems


def _normalise(text: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", text).lower()


def judge(case: EvalCase, reply: AgentReply, tools: list[str], facts: list[list[str]]) -> list[str]:
    """Every rule the answer breaks."""
    problems = []
    if reply.error:
        problems.append(f"the answer failed: {reply.error}")
    answer = _normalise(reply.text)
    for group in facts:
        if not any(_normalise(option) in answer for option in group if option):
            problems.append(f"missing fact: one of {group}")
    for name in case.must_call:
        if name not in tools:
            problems.append(f"{name} was not called")
    if case.must_call_any and not set(case.must_call_any) & set(tools):
        problems.append(f"none of {list(case.must_call_any)} was called")
    for name in case.must_not_call:
        if name in tools:
            problems.append(f"{name} was called")
    if len(reply.proposal_ids) != case.proposals:
        problems.append(f"{len(reply.proposal_ids)} proposals, expected {case.proposals}")
    return problems


def run_case(
    case: EvalCase,
    *,
    registry: RegistryServer,
    seeder: Seeder,
    state: Path,
    llm_env: LLMEnv | None = None,
    llm: ChatModel | None = None,
    now: dt.datetime | None = None,
) -> EvalResult:
    """Seed, crawl, ask once, judge."""
    moment = now or dt.datetime.now(dt.UTC)
    case.fixture(seeder, moment)
    settings = Settings(llm=LLMSettings(max_steps=8, request_timeout_s=120.0))
    runtime = build_app(
        settings=settings,
        secrets=Secrets(llm=llm_env or LLMEnv()),
        state_dir=state,
        registry_urls=[registry.url],
        llm=llm,
    )
    try:
        runtime.refresh_snapshot()
        facts = case.facts(EvalEnv(runtime, seeder))
        assert runtime.agent is not None, "no LLM configured"
        reply = runtime.agent.answer(conversation=f"eval:{case.id}", user="U-eval", text=case.question)
        tools = [
            str(e.payload["tool"])
            for e in runtime.audit.entries(kind="tool_call")
            if e.payload.get("reference") == reply.reference
        ]
        return EvalResult(case.id, reply, tools, judge(case, reply, tools, facts))
    finally:
        runtime.close()

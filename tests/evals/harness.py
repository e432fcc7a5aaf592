"""Run one eval case: seed a fresh registry, crawl, ask the agent, and judge the answer by rules.

Rules first (HolmesGPT's lesson): facts must appear, tools must or must not have been called, the
number of proposals must match, every number must be grounded (tests/evals/grounding.py). No LLM judge:
every expected fact comes from deterministic code.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.agent.llm import ChatModel, OpenAIChat
from bot.agent.loop import AgentReply
from bot.app import App, build_app
from bot.config import LLMEnv, Secrets, Settings
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.evals.base import EvalCase, EvalEnv, Observed, Stage
from tests.evals.grounding import ungrounded_numbers
from tests.evals.recording import RecordingChat, Request

USER = "U-eval"
# A 1.5B model on 2 shared CPU cores reads ~40 prompt tokens/s: a first request may take minutes.
REQUEST_TIMEOUT_S = 600.0  # the configuration's upper bound


@dataclass(slots=True)
class EvalResult:
    """What happened and what was wrong with it."""

    case: str
    reply: AgentReply
    tools: list[str]
    problems: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)  # the judged turn's LLM requests
    earlier_requests: list[Request] = field(default_factory=list)  # those of earlier turns
    ungrounded: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the judged answer, LLM and tools
    transcript: list[dict[str, Any]] = field(default_factory=list)  # last request's messages + its reply

    @property
    def passed(self) -> bool:
        """True when every rule held."""
        return not self.problems


def _normalise(text: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", text).lower()


def judge(case: EvalCase, reply: AgentReply, tools: list[str], facts: list[list[str]]) -> list[str]:
    """Every rule the answer breaks (grounding and the case's own check come on top)."""
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
    if case.max_tools is not None and len(tools) > case.max_tools:
        problems.append(f"{len(tools)} tool calls, at most {case.max_tools} expected")
    if len(reply.proposal_ids) != case.proposals:
        problems.append(f"{len(reply.proposal_ids)} proposals, expected {case.proposals}")
    return problems


def case_settings(case: EvalCase, *, select_tools: bool = True) -> Settings:
    """The configuration a case runs with: its overrides and a patient LLM client; `select_tools` False
    sends every tool's schema on every request (bench/evals.py --all-tools: the token cut's baseline)."""
    # The settings docs/assistant.md recommends for a small model: it cannot decline an off-topic question.
    llm = {
        "max_steps": 8,
        "request_timeout_s": REQUEST_TIMEOUT_S,
        "out_of_scope_reply": True,
        "select_tools": select_tools,
    }
    data: dict[str, Any] = {"llm": llm, **case.settings}
    return Settings.model_validate(data)


def run_case(
    case: EvalCase,
    *,
    registry: RegistryServer,
    seeder: Seeder,
    state: Path,
    llm_env: LLMEnv | None = None,
    llm: ChatModel | None = None,
    dockerd: DockerDaemon | None = None,
    now: dt.datetime | None = None,
    select_tools: bool = True,
) -> EvalResult:
    """Seed, crawl, ask (earlier turns first), judge."""
    settings = case_settings(case, select_tools=select_tools)
    recording = RecordingChat(llm if llm is not None else _chat(settings, llm_env or LLMEnv()))
    runtime = build_app(
        settings=settings,
        secrets=Secrets(),
        state_dir=state,
        registry_urls=[registry.url],
        docker_hosts=[dockerd.docker_host] if case.dockerd and dockerd is not None else [],
        llm=recording,
    )
    stage = Stage(seeder, registry, now or dt.datetime.now(dt.UTC), lambda: _crawl(runtime), dockerd)
    try:
        case.fixture(stage)
        runtime.refresh_snapshot()
        env = EvalEnv(runtime, seeder, registry)
        if case.after_crawl is not None:
            case.after_crawl(env)
        facts = case.facts(env)
        return _ask(case, env, recording, facts)
    finally:
        for cleanup in stage.cleanups:
            cleanup()
        runtime.close()


def _chat(settings: Settings, llm_env: LLMEnv) -> OpenAIChat:
    """The client the app would build from the environment's endpoint (OPENAI_BASE_URL, REGENT_MODEL)."""
    key = llm_env.api_key.get_secret_value() if llm_env.api_key is not None else None
    return OpenAIChat(
        model=llm_env.model or settings.llm.model,
        base_url=llm_env.base_url,
        api_key=key,
        timeout_s=settings.llm.request_timeout_s,
    )


def _crawl(runtime: App) -> None:
    runtime.refresh_snapshot()


def _ask(case: EvalCase, env: EvalEnv, recording: RecordingChat, facts: list[list[str]]) -> EvalResult:
    agent = env.runtime.agent
    assert agent is not None, "no LLM configured"
    conversation = f"eval:{case.id}"
    for question in case.earlier:
        agent.answer(conversation=conversation, user=USER, text=question)
    start = recording.mark()
    started = time.monotonic()
    reply = agent.answer(conversation=conversation, user=USER, text=case.question)
    seconds = time.monotonic() - started
    tools = [
        str(e.payload["tool"])
        for e in env.runtime.audit.entries(kind="tool_call")
        if e.payload.get("reference") == reply.reference
    ]
    results = list(recording.tool_results)
    seen = Observed(reply, tools, results)
    problems = judge(case, reply, tools, facts)
    if case.check is not None:
        problems += case.check(env, seen)
    ungrounded = ungrounded_numbers(
        reply.text, tool_results=results, user_texts=[*case.earlier, case.question]
    )
    if ungrounded:
        problems.append(f"ungrounded numbers: {ungrounded}")
    requests = recording.requests
    return EvalResult(
        case.id,
        reply,
        tools,
        problems,
        requests=requests[start:],
        earlier_requests=requests[:start],
        ungrounded=ungrounded,
        seconds=seconds,
        transcript=[*recording.last_messages, {"role": "model", **recording.last_reply}],
    )

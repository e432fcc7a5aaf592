"""The eval vocabulary: a case (questions, fixture, expected facts and rules), the stage a fixture sets up,
and the environment facts are computed in.

Facts are computed from the same deterministic code the tools use (never typed in by hand), so a case
stays right when the fixture changes: `facts(env)` returns groups of alternatives, and the answer must
contain one alternative of every group (case-insensitive; `1,234` and `1234` both count).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.agent.loop import AgentReply
from bot.app import App
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample

PROPOSING = ("propose_deletion", "propose_retention_cleanup")


@dataclass(slots=True)
class Stage:
    """What a fixture works with before the final crawl."""

    seeder: Seeder
    registry: RegistryServer
    now: dt.datetime
    crawl: Callable[[], None]  # an intermediate crawl (history: "dangling since", "first seen")
    dockerd: DockerDaemon | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def need_dockerd(self) -> DockerDaemon:
        """The shared dockerd; a case that needs one without it is a harness bug."""
        assert self.dockerd is not None, "this case needs dockerd (EvalCase.dockerd=True)"
        return self.dockerd


@dataclass(frozen=True, slots=True)
class EvalEnv:
    """What a case can look at to compute its expected facts (after the crawl)."""

    runtime: App
    seeder: Seeder
    registry: RegistryServer

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Call a toolbox tool directly (no LLM): the ground truth the answer must agree with."""
        outcome = self.runtime.toolbox.call(name, json.dumps(arguments), user="eval", conversation="eval")
        assert outcome.ok, outcome.content
        result: dict[str, Any] = json.loads(outcome.content)
        return result

    def digest(self, repository: str, tag: str) -> str:
        """The digest the seeder pushed for repository:tag."""
        return self.seeder.tagged()[(repository, tag)]


@dataclass(frozen=True, slots=True)
class Observed:
    """What the judged turn produced: the reply, the tools it called and every tool result it saw."""

    reply: AgentReply
    tools: list[str]
    tool_results: list[str]


Facts = Callable[[EvalEnv], list[list[str]]]
Check = Callable[[EvalEnv, Observed], list[str]]  # extra rules; returns the problems found


def default_fixture(stage: Stage) -> None:
    """The demo's sample registry (nothing runnable: no dockerd needed)."""
    seed_sample(stage.seeder, now=stage.now, runnable=False)


def no_facts(_env: EvalEnv) -> list[list[str]]:
    """A case judged by its rules only."""
    return []


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One question (after `earlier` turns in the same thread) and what a good answer looks like."""

    id: str
    question: str
    facts: Facts = no_facts
    must_call: tuple[str, ...] = ()  # every one of these
    must_call_any: tuple[str, ...] = ()  # at least one of these
    must_not_call: tuple[str, ...] = ()
    max_tools: int | None = None  # e.g. 0: an off-topic question needs no tool
    proposals: int = 0
    fixture: Callable[[Stage], None] = default_fixture
    after_crawl: Callable[[EvalEnv], None] | None = None  # e.g. ingest a scanner report
    settings: dict[str, Any] = field(default_factory=dict)  # configuration overrides (mode, bases)
    earlier: tuple[str, ...] = ()  # questions asked before in the same thread (a follow-up)
    check: Check | None = None
    dockerd: bool = False  # needs the shared dockerd (containers that use the registry's images)
    tags: tuple[str, ...] = ()  # "smoke": the CI subset

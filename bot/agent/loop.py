"""The bounded LLM loop: one question in, one reply out, tools in between.

Interface with the Slack side (bot/slack/conversation.py relies on it, keep it stable):

    Agent.answer(*, conversation: str, user: str, text: str, status: Callable[[str], None] | None = None,
                 stream: AnswerStream | None = None) -> AgentReply

- `conversation` is the memory key: a Slack thread key such as "C123:1700000000.0001", or "cli".
- `user` is who asked (Slack user id, or "cli:<login>"); proposals record them as the requester.
- `status` receives short progress lines ("Looking up shop/api:1.4.0…"); its failures are ignored.
- `stream` receives the answer while the model writes it (a streaming LLM client), scrubbed and bounded;
  text written before a tool call is retracted (the contract is in bot/agent/streaming.py).
- `AgentReply.text` is Slack mrkdwn written by the model (the Slack side escapes and splits it);
  `proposal_ids` are the proposals created while answering (one approval card each); `reference` is
  the id in the log lines of this answer; `truncated` says the answer was cut (step limit or length);
  `error` is a short user-facing reason when the answer failed (the text then explains it too).

Rules: at most `max_steps` LLM calls, and the last one is offered no tools; argument errors, unknown and
unavailable tools go back to the model as JSON errors to correct; every tool call is written to the
audit log before it runs (if that fails, nothing runs and the answer fails); each tool runs on a worker
thread with a time limit; proposing tools are offered only when the user's own words ask for a cleanup
(bot/agent/intent.py), and never in read-only mode (the reply then says why); only the schemas the
question plausibly needs are sent (bot/agent/toolsets.py), while every allowed tool can still run; known
secret values are replaced in everything sent to the LLM.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.agent.intent import asked_intents
from bot.agent.llm import ChatModel, Completion, ToolCallRequest
from bot.agent.memory import ConversationMemory
from bot.agent.prompts import Prompts
from bot.agent.redaction import REDACTED, Redactor
from bot.agent.replies import NOT_PHRASED, looks_like_tool_call, partial_notice, unphrased_reply
from bot.agent.streaming import AnswerStream, StreamTap, text_sink
from bot.agent.toolsets import select_tools
from bot.errors import LLMError
from tools.toolbox.dispatch import Toolbox, dumps

__all__ = ["REDACTED", "Agent", "AgentLimits", "AgentReply", "ToolAudit", "ToolCallEvent"]

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True, slots=True)
class AgentReply:
    """The answer to one question (see the module docstring for each field)."""

    text: str
    proposal_ids: list[str]
    reference: str
    truncated: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AgentLimits:
    """Bounds of one answer."""

    max_steps: int = 8
    tool_timeout_s: float = 20.0
    memory_turns: int = 10
    max_tool_calls_per_step: int = 8
    max_reply_chars: int = 12000  # Slack's markdown block limit


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """One tool call, as written to the audit log before it runs."""

    reference: str
    conversation: str
    user: str
    tool: str
    arguments: dict[str, Any]
    step: int
    offered: bool


ToolAudit = Callable[[ToolCallEvent], None]


@dataclass(slots=True)
class _Run:
    reference: str
    conversation: str
    user: str
    text: str
    status: Callable[[str], None] | None
    offered: list[str] = field(default_factory=list)  # may run: read-only tools + what the gate allows
    shown: list[str] = field(default_factory=list)  # whose schemas are sent (bot/agent/toolsets.py)
    refused: str | None = None  # read-only mode and the user asked for a change: why it cannot be proposed
    messages: list[dict[str, Any]] = field(default_factory=list)
    proposal_ids: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # tool + arguments already called in this answer
    steps: int = 0
    answer_next: bool = False  # the next step offers no tools and asks for the answer
    intents: frozenset[str] = frozenset()  # kinds of change the user asked for (bot/agent/intent.py)
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tap: StreamTap | None = None  # live answer text, when the caller streams it


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Agent:
    """Answers questions with the toolbox; one instance serves every conversation (thread-safe)."""

    def __init__(
        self,
        *,
        llm: ChatModel,
        toolbox: Toolbox,
        prompts: Prompts,
        memory: ConversationMemory | None = None,
        audit: ToolAudit | None = None,
        limits: AgentLimits | None = None,
        prompt_values: Callable[[], Mapping[str, str]] = dict,
        secrets_to_redact: Sequence[str] = (),
        clock: Callable[[], datetime] = _utcnow,
        workers: int = 4,
        select: bool = True,
        scope_reply: bool = False,
    ) -> None:
        self._llm = llm
        self._toolbox = toolbox
        self._prompts = prompts
        self._memory = memory
        self._audit = audit
        self._limits = limits or AgentLimits()
        self._prompt_values = prompt_values
        self._redactor = Redactor(secrets_to_redact)
        self._clock = clock
        self._select = select  # False: every allowed schema on every request (the pre-selection behaviour)
        self._scope_reply = scope_reply  # True: nothing shown means a fixed reply, not a tool-less request
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regent-tool")

    def close(self) -> None:
        """Stop the tool workers (a tool still running past its time limit is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def answer(
        self,
        *,
        conversation: str,
        user: str,
        text: str,
        status: Callable[[str], None] | None = None,
        stream: AnswerStream | None = None,
    ) -> AgentReply:
        """Answer one question; never raises (failures become a reply with `error`)."""
        run = _Run(secrets.token_hex(4), conversation, user, text[:MAX_QUESTION_CHARS], status)
        if stream is not None:  # a secret split across pieces must arrive whole before it is scrubbed
            hold = max(self._redactor.longest, 1) - 1
            scrub = self._redactor.scrub
            run.tap = StreamTap(stream, scrub=scrub, hold=hold, limit=self._limits.max_reply_chars)
        started = time.monotonic()
        try:
            reply = self._answer(run)
        except LLMError as exc:
            log.warning("answer %s: LLM error: %s", run.reference, exc.message)
            reply = self._failed(run, f"I could not get an answer from the language model: {exc.message}.")
        except Exception:
            log.exception("answer %s failed", run.reference)
            reply = self._failed(run, "Something went wrong on my side while answering.")
        log.info(
            "answer %s: conversation=%s user=%s steps=%d tool_calls=%d tokens=%d+%d proposals=%s %.2fs%s",
            run.reference,
            conversation,
            user,
            run.steps,
            run.tool_calls,
            run.prompt_tokens,
            run.completion_tokens,
            ",".join(run.proposal_ids) or "-",
            time.monotonic() - started,
            f" error={reply.error}" if reply.error else "",
        )
        return reply

    def _failed(self, run: _Run, message: str) -> AgentReply:
        text = f"{message} (reference `{run.reference}`)"
        if run.proposal_ids:
            text += f"\nProposals created before this happened: {', '.join(run.proposal_ids)}."
        return AgentReply(
            text=text, proposal_ids=list(run.proposal_ids), reference=run.reference, error=message
        )

    def _answer(self, run: _Run) -> AgentReply:
        self._say(run, "Thinking…")
        run.messages = self._initial_messages(run)
        if self._scope_reply and self._select and not run.shown:  # about nothing the toolbox knows
            return self._finish(run, Completion(self._prompts.render("out_of_scope", {})), hit_limit=False)
        tools = self._toolbox.openai_tools(run.shown) or None  # none shown: an answer in words
        last = self._limits.max_steps - 1
        for step in range(self._limits.max_steps):
            final = step == last or run.answer_next
            if final:
                prompt = self._prompts.render("answer_now" if step < last else "last_step", {"steps": step})
                run.messages.append({"role": "system", "content": prompt})
            completion = self._complete(run, tools=None if final else tools)
            if completion.tool_calls and not final:
                if all(_call_key(call) in run.seen for call in completion.tool_calls):
                    # A small model repeats a call instead of answering from its result; showing it the
                    # result again loops to the step limit. Its repeat is dropped, and the next request
                    # offers no tools and asks for the answer.
                    run.answer_next = True
                    if run.tap is not None:
                        run.tap.retract()
                    continue
                self._run_tools(run, completion, step)
                # One proposal answers one request: a small model otherwise goes on proposing variants.
                run.answer_next = bool(run.proposal_ids) and len(run.intents) <= 1
                if not run.answer_next:  # said right after the results, where a small model heeds it
                    note = self._prompts.render("after_tools", {})
                    run.messages.append({"role": "system", "content": note})
                continue
            return self._finish(run, completion, hit_limit=final and bool(completion.tool_calls))
        raise AssertionError("unreachable: the last step always returns")

    def _initial_messages(self, run: _Run) -> list[dict[str, Any]]:
        turns = self._memory.recent(run.conversation, turns=self._limits.memory_turns) if self._memory else []
        mine = [t for t in turns if t.user == run.user]
        asked = asked_intents(run.text) | (asked_intents(mine[-1].question) if mine else frozenset())
        run.intents = asked
        run.offered = self._toolbox.names(proposing=asked)
        run.shown = run.offered
        if self._select:
            texts = [run.text, mine[-1].question] if mine else [run.text]
            run.shown = select_tools(run.offered, texts=texts, intents=asked)
        offered = [name for name in run.shown if self._toolbox.is_proposing(name)]
        read_only = self._toolbox.context.read_only
        if read_only and asked_intents(run.text):
            run.refused = read_only
        proposals = (
            self._prompts.render("proposals_read_only", {"reason": read_only})
            if read_only
            else self._prompts.render(
                "proposals_offered" if offered else "proposals_withheld", {"tools": ", ".join(offered)}
            )
        )
        values: dict[str, object] = {
            "today": self._clock().strftime("%Y-%m-%d %H:%M"),
            "inventory": "unknown",
            "proposals": proposals,
        }
        values.update(self._prompt_values())
        # The constant instructions first and the changing context (date, inventory counts) in a message
        # of its own: the server's prompt cache then reuses instructions and tool schemas across questions.
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._prompts.render("system", values)},
            {"role": "system", "content": self._prompts.render("context", values)},
        ]
        for turn in turns:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.answer})
        messages.append({"role": "user", "content": run.text})
        return messages

    def _complete(self, run: _Run, *, tools: list[dict[str, Any]] | None) -> Completion:
        run.steps += 1
        with text_sink(run.tap.piece if run.tap else None):
            completion = self._llm.complete(messages=self._redactor.scrubbed(run.messages), tools=tools)
        run.prompt_tokens += completion.prompt_tokens
        run.completion_tokens += completion.completion_tokens
        return completion

    def _run_tools(self, run: _Run, completion: Completion, step: int) -> None:
        if run.tap is not None:  # whatever the model wrote before turning to tools was not the answer
            run.tap.retract()
        calls = completion.tool_calls
        run.messages.append(
            {
                "role": "assistant",
                "content": completion.content,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ],
            }
        )
        limit = self._limits.max_tool_calls_per_step
        for index, call in enumerate(calls):
            if index < limit:
                content = self._call_tool(run, call, step)
            else:
                content = dumps({"error": f"too many tool calls at once; make at most {limit} per step"})
            run.messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    def _call_tool(self, run: _Run, call: ToolCallRequest, step: int) -> str:
        arguments = _parse_arguments(call.arguments)
        key = _call_key(call)
        if key in run.seen:  # the same call again (a looping model, or a repeated proposal) runs nothing
            # A small model that repeats itself needs to be told, not shown the same result again.
            return dumps(
                {
                    "error": f"{call.name} was already called with these arguments; its result is above",
                    "hint": "do not call it again: answer the user's question from that result now",
                }
            )
        run.tool_calls += 1
        self._say(run, self._toolbox.status(call.name, call.arguments))
        if self._audit is not None:  # before it runs: if the audit log fails, the tool does not run
            event = ToolCallEvent(
                run.reference,
                run.conversation,
                run.user,
                call.name,
                arguments,
                step,
                call.name in run.offered,
            )
            self._audit(event)
        future = self._pool.submit(
            self._toolbox.call,
            call.name,
            call.arguments,
            user=run.user,
            conversation=run.conversation,
            offered=run.offered,
        )
        try:
            outcome = future.result(timeout=self._limits.tool_timeout_s)
        except FutureTimeout:
            log.warning(
                "answer %s: %s timed out after %.1f s", run.reference, call.name, self._limits.tool_timeout_s
            )
            return dumps(
                {
                    "error": f"{call.name} did not finish within {self._limits.tool_timeout_s:g} s",
                    "hint": "narrow the query, or answer with what you have",
                }
            )
        log.info(
            "answer %s: tool %s %s %.2fs %d chars%s",
            run.reference,
            call.name,
            outcome.error or "ok",
            outcome.elapsed_s,
            len(outcome.content),
            " truncated" if outcome.truncated else "",
        )
        run.proposal_ids.extend(p for p in outcome.proposal_ids if p not in run.proposal_ids)
        run.seen.add(key)
        return outcome.content

    def _finish(self, run: _Run, completion: Completion, *, hit_limit: bool) -> AgentReply:
        text = self._redactor.scrub((completion.content or "").strip())
        truncated = hit_limit or completion.finish_reason == "length"
        error = None
        if looks_like_tool_call(text):  # no answer for a person: the facts the tools returned instead
            text, error, hit_limit = self._redactor.scrub(unphrased_reply(run.messages)), NOT_PHRASED, False
        if not text:
            text = (
                "I ran out of steps before I could finish; please ask a narrower question."
                if hit_limit
                else "I have no answer to that."
            )
        # A cut list is said to be partial (bot/agent/replies.py), whatever the model wrote.
        text += partial_notice(text, run.messages)
        if hit_limit:
            text += f"\n_(stopped after {run.steps} steps)_"
        if run.refused and "read-only mode" not in text:  # said in any case, whatever the model wrote
            text += f"\n_{run.refused}._"
        limit = self._limits.max_reply_chars
        if len(text) > limit:
            text, truncated = text[: limit - 1] + "…", True
        if run.tap is not None:
            run.tap.settle(text)
        if self._memory is not None:
            self._memory.remember(
                run.conversation, user=run.user, question=run.text, answer=text, now=self._clock()
            )
        return AgentReply(
            text=text,
            proposal_ids=list(run.proposal_ids),
            reference=run.reference,
            truncated=truncated,
            error=error,
        )

    def _say(self, run: _Run, message: str) -> None:
        if run.status is None:
            return
        try:
            run.status(message)
        except Exception:  # progress is cosmetic: a failing status update must not cost the answer
            log.debug("status callback failed", exc_info=True)


def _call_key(call: ToolCallRequest) -> str:
    """The same tool with the same arguments (in any order) is the same call."""
    return call.name + "\x00" + json.dumps(_parse_arguments(call.arguments), sort_keys=True)


def _parse_arguments(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {"unparsable_arguments": arguments[:500]}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}

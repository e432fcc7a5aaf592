"""A ChatModel wrapper that records every request: prompt and completion tokens as the server reported
them, seconds, how many tools were offered, and the tool results the model was shown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.agent.llm import ChatModel, Completion


@dataclass(frozen=True, slots=True)
class Request:
    """One LLM request of a conversation."""

    prompt_tokens: int
    completion_tokens: int
    seconds: float
    tools_offered: int
    tool_calls: int


@dataclass(slots=True)
class RecordingChat:
    """Passes requests to `inner` and keeps what the benchmark reports (thread-compatible, not -safe)."""

    inner: ChatModel
    requests: list[Request] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)  # every tool result shown, in order
    # The latest request's messages and what the model wrote back: the whole conversation so far, for
    # reading why a case failed (bench/evals.py --transcripts).
    last_messages: list[dict[str, Any]] = field(default_factory=list)
    last_reply: dict[str, Any] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        """One completion through the wrapped model, recorded."""
        for message in messages:
            if message.get("role") != "tool":
                continue
            key = (str(message.get("tool_call_id")), str(message.get("content")))
            if key not in self._seen:  # every request repeats the earlier results of its turn
                self._seen.add(key)
                self.tool_results.append(key[1])
        started = time.monotonic()
        completion = self.inner.complete(messages=messages, tools=tools)
        self.last_messages = list(messages)
        self.last_reply = {
            "content": completion.content,
            "finish_reason": completion.finish_reason,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in completion.tool_calls],
        }
        self.requests.append(
            Request(
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                seconds=time.monotonic() - started,
                tools_offered=len(tools or ()),
                tool_calls=len(completion.tool_calls),
            )
        )
        return completion

    def mark(self) -> int:
        """Where the next turn's requests start."""
        return len(self.requests)

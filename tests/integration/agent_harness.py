"""Helpers for agent tests: a runtime on a temp state dir whose LLM is the fake server, driven by the real
openai SDK, and scripted answers computed from what the fake received."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.agent.llm import OpenAIChat
from bot.app import App, build_app
from bot.config import LLMSettings, Secrets, Settings
from tests.fakes.openai_server import tool_messages


def make_runtime(
    state: Path,
    *,
    llm_url: str,
    registry_urls: Sequence[str] = (),
    docker_hosts: Sequence[str] = (),
    stream: bool = False,
    max_steps: int = 8,
    tool_timeout_s: float = 20.0,
    request_timeout_s: float = 10.0,
    secrets: Secrets | None = None,
    settings: Settings | None = None,
) -> App:
    """A runtime whose agent talks to `llm_url` with max_retries=0 (a broken fake fails fast)."""
    llm = LLMSettings(max_steps=max_steps, tool_timeout_s=tool_timeout_s, request_timeout_s=request_timeout_s)
    settings = (settings or Settings()).model_copy(update={"llm": llm})
    chat = OpenAIChat(
        model="fake-model",
        base_url=llm_url,
        api_key="sk-test",
        timeout_s=request_timeout_s,
        stream=stream,
        max_retries=0,
    )
    return build_app(
        settings=settings,
        secrets=secrets or Secrets(),
        state_dir=state,
        registry_urls=registry_urls,
        docker_hosts=docker_hosts,
        llm=chat,
    )


def call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A scripted step with one tool call."""
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}


def last_tool_result(body: dict[str, Any]) -> dict[str, Any]:
    """The parsed content of the last tool message in a recorded request."""
    result: dict[str, Any] = json.loads(tool_messages(body)[-1]["content"])
    return result


def answer_with_size(body: dict[str, Any]) -> dict[str, Any]:
    """A scripted answer quoting the size and digest from the last get_image result it received."""
    result = last_tool_result(body)
    return {
        "content": f"`{result['reference']}` is {result['size']} ({result['size_bytes']:,} bytes), "
        f"digest `{result['digest']}`."
    }

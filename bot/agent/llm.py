"""The one module that speaks to the LLM: the openai SDK against any OpenAI-compatible endpoint.

Everything the SDK can raise is turned into `LLMError` with a short user-facing message (never the
exception text, which can carry URLs and request details); the loop never sees an openai type.
Streaming (SSE) and plain JSON give the same `Completion`; when streaming, each piece of content is also
passed to the live answer sink (bot/agent/streaming.py) as it arrives, until the model turns to tools.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai
from openai import OpenAI

from bot.agent.streaming import emit_text
from bot.errors import LLMError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One function call the model asked for (arguments are the raw JSON text it wrote)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """One model turn."""

    content: str | None
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(Protocol):
    """What the loop needs from an LLM client."""

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        """One chat completion; tools=None offers no tools."""
        ...


class OpenAIChat:
    """Chat Completions over the openai SDK."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        stream: bool = False,
        max_retries: int = 1,
        max_tokens: int | None = None,
    ) -> None:
        # A local endpoint (Ollama, vLLM) may need no key, but the SDK insists on one.
        self._client = OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=max_retries
        )
        self._model = model
        self._temperature = temperature
        self._timeout = timeout_s
        self._stream = stream
        # A small model can fall into repeating itself; on a CPU an uncapped answer then runs for an hour.
        self._max_tokens = max_tokens

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self._client.close()

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        """One completion; SDK errors become LLMError."""
        request: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": self._temperature,
        }
        if tools:
            request["tools"] = tools
        if self._max_tokens is not None:
            request["max_tokens"] = self._max_tokens
        try:
            if self._stream:
                return self._streamed(request)
            response = self._client.chat.completions.create(**request)
            return _from_response(response)
        except LLMError:
            raise
        except openai.APITimeoutError:
            raise LLMError(f"the language model did not answer within {self._timeout:g} s") from None
        except openai.AuthenticationError:
            raise LLMError("the language model endpoint rejected the API key", status=401) from None
        except openai.RateLimitError:
            raise LLMError(
                "the language model endpoint is rate limiting us; try again shortly", status=429
            ) from None
        except openai.APIStatusError as exc:
            # The endpoint's own words help the operator (a rejected schema, an unknown model); not the user.
            log.warning("LLM endpoint HTTP %s: %s", exc.status_code, str(exc.message)[:500])
            raise LLMError(
                f"the language model endpoint failed (HTTP {exc.status_code})", status=exc.status_code
            ) from None
        except openai.APIConnectionError:
            raise LLMError("cannot reach the language model endpoint") from None
        except (openai.OpenAIError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            log.warning("unusable answer from the LLM endpoint", exc_info=True)
            raise LLMError("the language model endpoint sent an answer that cannot be used") from None
        except Exception:  # the transport below the SDK (a stream cut mid-way) raises its own types
            log.warning("the LLM request failed", exc_info=True)
            raise LLMError("the connection to the language model broke off") from None

    def _streamed(self, request: dict[str, Any]) -> Completion:
        content: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish: str | None = None
        prompt = completion = 0
        stream = self._client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
        with stream:
            for chunk in stream:
                if chunk.usage is not None:
                    prompt, completion = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                for choice in chunk.choices:  # the usage chunk has no choices
                    delta = choice.delta
                    if delta.content:
                        content.append(delta.content)
                        if not calls:  # text after a tool call began is not an answer to show
                            emit_text(delta.content)
                    for part in delta.tool_calls or ():
                        slot = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = part.id or slot["id"]
                        if part.function is not None:
                            slot["name"] += part.function.name or ""
                            slot["arguments"] += part.function.arguments or ""
                    finish = choice.finish_reason or finish
        if finish is None:  # the stream closed before the model said it was done: the answer is partial
            raise LLMError("the language model's answer stream ended early")
        return Completion(
            content="".join(content) or None,
            tool_calls=[_call(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())],
            finish_reason=finish,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


def _from_response(response: Any) -> Completion:
    choice = response.choices[0]
    message = choice.message
    calls = [
        _call(tc.id, tc.function.name, tc.function.arguments)
        for tc in message.tool_calls or ()
        if getattr(tc, "function", None) is not None
    ]
    usage = response.usage
    return Completion(
        content=message.content,
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
    )


def _call(call_id: str | None, name: str | None, arguments: str | None) -> ToolCallRequest:
    # Some servers omit ids; the next request must still pair each result with its call.
    return ToolCallRequest(
        id=call_id or f"call_{secrets.token_hex(6)}", name=name or "", arguments=arguments or ""
    )

"""A fake OpenAI-compatible `/v1/chat/completions` that replays a script, over real HTTP.

Each request consumes one step of the script:
- `{"content": "..."}`: a plain answer;
- `{"tool_calls": [{"name": ..., "arguments": {...} or "raw text"}]}`: function calls (a string argument is
  sent as is, so invalid JSON can be injected);
- `{"status": 500}`: an HTTP error; `{"delay": 2.0}`: sleep first (combine with anything);
- `{..., "repeat": True}`: the step is never consumed (a model that never stops calling tools);
- `{..., "cut": True}`: when streaming, close the connection after the first content piece;
- `{..., "chunk_delay": 0.1}`: when streaming, sleep between chunks (a model writing at a human pace);
- a callable `step(body) -> dict`: computed from the request (e.g. an answer quoting a tool result).
Answers are JSON, or SSE when the request says `stream: true` (role delta, content pieces, tool-call
argument deltas, finish_reason, a usage chunk when asked, `data: [DONE]`). Every request body and its
Authorization header are recorded; an exhausted script answers 500 so a test notices.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from tests.fakes.http_server import BackgroundServer

Step = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def estimate_tokens(body: dict[str, Any]) -> int:
    """A stable token estimate of what a request sends (messages and tools): ~4 characters a token."""
    sent = {"messages": body.get("messages", []), "tools": body.get("tools", [])}
    return len(json.dumps(sent, separators=(",", ":"), ensure_ascii=False)) // 4


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `role: tool` messages of a recorded request."""
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def tool_names(body: dict[str, Any]) -> list[str]:
    """Names of the tools a recorded request offered."""
    return [t["function"]["name"] for t in body.get("tools") or []]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close after each response: simple SSE framing

    def log_message(self, format: str, *args: object) -> None:
        """Silence the access log."""

    def do_POST(self) -> None:
        server: FakeOpenAI = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        step = server.take(body, self.headers.get("Authorization", ""))
        if step.get("delay"):
            time.sleep(float(step["delay"]))
        if step.get("status"):
            failure = {"error": {"message": "injected failure", "type": "server_error"}}
            self._send_json(int(step["status"]), failure)
            return
        if body.get("stream"):
            self._send_stream(server, body, step)
        else:
            self._send_json(200, _completion(server.next_id(), body, step))

    def _send_json(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _send_stream(self, server: FakeOpenAI, body: dict[str, Any], step: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for index, chunk in enumerate(_chunks(server.next_id(), body, step, include_usage=include_usage)):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            if step.get("chunk_delay"):
                time.sleep(float(step["chunk_delay"]))
            if step.get("cut") and index == 1:
                return  # HTTP/1.0: closing the connection ends the response mid-stream
        self.wfile.write(b"data: [DONE]\n\n")


class FakeOpenAI(BackgroundServer):
    """The fake server; `url` + "/v1" is the base URL for the openai SDK."""

    created: ClassVar[list[FakeOpenAI]] = []  # every instance, for the suite-wide secret scan

    def __init__(self, script: list[Step] | None = None) -> None:
        super().__init__(_Handler)
        FakeOpenAI.created.append(self)
        self._lock = threading.Lock()
        self._script: list[Step] = list(script or [])
        self._ids = 0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be."""
        return f"{self.url}/v1"

    def push(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._script.extend(steps)

    def take(self, body: dict[str, Any], authorization: str) -> dict[str, Any]:
        """Record the request and return the step that answers it."""
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(authorization)
            if not self._script:
                return {"status": 500}
            step = self._script[0]
            resolved = step(body) if callable(step) else step
            if not resolved.get("repeat"):
                self._script.pop(0)
            return resolved

    def next_id(self) -> str:
        """A fresh completion id."""
        with self._lock:
            self._ids += 1
            return f"chatcmpl-fake{self._ids}"


def _tool_calls(step: dict[str, Any], completion_id: str) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(step.get("tool_calls") or []):
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id") or f"call_{completion_id[-6:]}_{index}",
                "type": "function",
                "function": {"name": call["name"], "arguments": text},
            }
        )
    return calls


def _usage(body: dict[str, Any], step: dict[str, Any]) -> dict[str, int]:
    prompt = estimate_tokens(body)
    completion = len(json.dumps(step.get("content") or step.get("tool_calls") or "")) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(completion_id: str, body: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    calls = _tool_calls(step, completion_id)
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": _usage(body, step),
    }


def _chunks(
    completion_id: str, body: dict[str, Any], step: dict[str, Any], *, include_usage: bool
) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    content = step.get("content") or ""
    for start in range(0, len(content), 16):
        yield chunk({"content": content[start : start + 16]})
    calls = _tool_calls(step, completion_id)
    for index, call in enumerate(calls):
        name, text = call["function"]["name"], call["function"]["arguments"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        third = max(1, len(text) // 3)
        for start in range(0, len(text), third):
            piece = {"index": index, "function": {"arguments": text[start : start + third]}}
            yield chunk({"tool_calls": [piece]})
    yield chunk({}, "tool_calls" if calls else "stop")
    if include_usage:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [],
            "usage": _usage(body, step),
        }

"""A fake Slack Web API over real HTTP: records every call, enforces Block Kit limits, injects 429s.

Base URL for `WebClient(base_url=...)` is `fake.api_url` (`http://127.0.0.1:PORT/api/`). `response_url`
posts go to `fake.hook_url(name)` and are recorded under the method name "response_url". Limits follow
reference/slack.md section 5 (tests/fakes/slack_limits.py); a violation answers `invalid_blocks` /
`msg_too_long` like Slack does. Home tabs (`views.publish`) are checked and kept per user; streamed
messages (`chat.startStream` / `appendStream` / `stopStream`) keep their chunks, and `stream_error` makes
all three answer an error (`unknown_method`: a workspace without streaming).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from tests.fakes.http_server import BackgroundServer, QuietHandler
from tests.fakes.slack_limits import MAX_MARKDOWN_BLOCK, check_message, check_view

__all__ = ["BOT_ID", "BOT_USER", "TEAM", "Call", "FakeSlackApi", "FakeSlackState", "check_message"]

BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TEAM = "T0TEAM"


@dataclass(frozen=True)
class Call:
    """One recorded Web API call."""

    method: str
    args: dict[str, Any]
    authorization: str
    at: float
    ok: bool = True


@dataclass
class FakeSlackState:
    """What the fake knows and records; tests change `usergroups` and `rate_limit_next` directly."""

    calls: list[Call] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    rate_limit_next: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fail_next: dict[str, str] = field(default_factory=dict)  # method -> Slack error code, once
    socket_url: str | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)
    ts_counter: int = 0
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> the published Home tab
    streams: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # message -> chunks, in order
    streaming: set[tuple[str, str]] = field(default_factory=set)  # streams not stopped yet
    stream_error: str | None = None  # every stream method answers this error (e.g. unknown_method)


class FakeSlackApi(BackgroundServer):
    """The fake Web API server; use as a context manager."""

    created: ClassVar[list[FakeSlackApi]] = []  # every instance, for the suite-wide secret scan

    def __init__(self) -> None:
        FakeSlackApi.created.append(self)
        self.state = FakeSlackState()
        super().__init__(_handler_for(self.state))
        self._server.socket.listen(128)  # the default backlog of 5 resets connections under load (bench)
        # Stop within 50 ms instead of the default 0.5 s poll: tests start and stop one per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def api_url(self) -> str:
        """Web API base URL with the trailing slash slack_sdk expects."""
        return f"{self.url}/api/"

    def hook_url(self, name: str = "commands/T0TEAM/1/hook") -> str:
        """A response_url that this fake accepts."""
        return f"{self.url}/hooks/{name}"

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one method, oldest first."""
        with self.state.cond:
            return [c for c in self.state.calls if method is None or c.method == method]

    def wait_for(
        self, method: str, n: int = 1, timeout: float = 5.0, *, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """Block until at least n calls of `method` (matching `where`) arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self.state.cond:
            while True:
                got = [c for c in self.state.calls if c.method == method and (where is None or where(c))]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({c.method for c in self.state.calls})
                    raise AssertionError(f"{method}: {len(got)} of {n} calls after {timeout}s; saw {seen}")
                self.state.cond.wait(left)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """The current content of a posted message (after updates)."""
        with self.state.cond:
            return dict(self.state.messages[(channel, ts)])

    def streamed(self, channel: str, ts: str) -> list[str]:
        """The markdown chunks a streamed message received, in order (start, appends, stop)."""
        with self.state.cond:
            return list(self.state.streams[(channel, ts)])

    def home_view(self, user: str) -> dict[str, Any] | None:
        """The Home tab last published for a user."""
        with self.state.cond:
            return self.state.home_views.get(user)


def _handler_for(state: FakeSlackState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            args = _parse_body(raw, self.headers.get("Content-Type", ""))
            auth = self.headers.get("Authorization", "")
            if "token" in args and not auth:
                auth = f"Bearer {args.pop('token')}"
            if self.path.startswith("/hooks/"):
                problem = check_message(args)
                self._record("response_url", args | {"_path": self.path}, auth, ok=problem is None)
                reply = problem[0] if problem else "ok"
                self.send_body(400 if problem else 200, reply.encode(), {"Content-Type": "text/plain"})
                return
            method = self.path.removeprefix("/api/").split("?", 1)[0]
            status, payload, headers = _answer(state, method, args, auth)
            self._record(method, args, auth, ok=bool(payload.get("ok")))
            self.send_body(
                status, json.dumps(payload).encode(), {"Content-Type": "application/json"} | headers
            )

        do_GET = do_POST

        def _record(self, method: str, args: dict[str, Any], auth: str, *, ok: bool) -> None:
            with state.cond:
                state.calls.append(Call(method, args, auth, time.monotonic(), ok))
                state.cond.notify_all()

    return Handler


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        data = json.loads(raw)
        return data if isinstance(data, dict) else {"_body": data}
    args: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for key in ("blocks", "attachments", "prompts", "payload", "metadata", "chunks"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _answer(
    state: FakeSlackState, method: str, args: dict[str, Any], auth: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    with state.cond:
        if state.rate_limit_next.get(method, 0) > 0:
            state.rate_limit_next[method] -= 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}
        failure = state.fail_next.pop(method, None)
    expected = "Bearer xapp-" if method == "apps.connections.open" else "Bearer xox"
    if not auth.startswith(expected):
        return 200, {"ok": False, "error": "invalid_auth"}, {}
    if failure:
        return 200, {"ok": False, "error": failure}, {}
    if method in _STREAM_METHODS and state.stream_error:
        return 200, {"ok": False, "error": state.stream_error}, {}
    problem = check_message(args) if method in _MESSAGE_METHODS else None
    if problem:
        return 200, {"ok": False, "error": problem[0], "response_metadata": {"messages": [problem[1]]}}, {}
    handler = _METHODS.get(method, _ok)
    return 200, handler(state, args), {}


def _ok(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


def _next_ts(state: FakeSlackState) -> str:
    with state.cond:
        state.ts_counter += 1
        return f"1790000000.{state.ts_counter:06d}"


def _post(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = str(args.get("channel", ""))
    ts = _next_ts(state)
    message = {"text": args.get("text", ""), "blocks": args.get("blocks", []), "ts": ts, "bot_id": BOT_ID}
    if args.get("thread_ts"):
        message["thread_ts"] = args["thread_ts"]
    with state.cond:
        state.messages[(channel, ts)] = message
    return {"ok": True, "channel": channel, "ts": ts, "message": message}


def _update(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
    with state.cond:
        if (channel, ts) not in state.messages:
            return {"ok": False, "error": "message_not_found"}
        state.messages[(channel, ts)] |= {"text": args.get("text", ""), "blocks": args.get("blocks", [])}
    return {"ok": True, "channel": channel, "ts": ts}


def _delete(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
    with state.cond:
        if state.messages.pop((channel, ts), None) is None:
            return {"ok": False, "error": "message_not_found"}
        state.streaming.discard((channel, ts))
    return {"ok": True, "channel": channel, "ts": ts}


def _publish(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    user = str(args.get("user_id") or "")
    if not user:
        return {"ok": False, "error": "invalid_arguments"}
    problem = check_view(args.get("view"))
    if problem:
        return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": [problem]}}
    with state.cond:
        state.home_views[user] = args["view"]
    return {"ok": True, "view": {"id": f"V{user}", "type": "home", **args["view"]}}


def _stream_text(args: dict[str, Any]) -> tuple[str | None, str | None]:
    """The markdown a stream call adds (markdown_text or markdown_text chunks), or an error code."""
    parts = [str(args["markdown_text"])] if args.get("markdown_text") else []
    chunks = args.get("chunks") or []
    if not isinstance(chunks, list):
        return None, "invalid_chunks"
    for chunk in chunks:
        if not isinstance(chunk, dict) or chunk.get("type") not in {"markdown_text", "task_update", "plan"}:
            return None, "invalid_chunks"
        if chunk["type"] == "markdown_text":
            parts.append(str(chunk.get("text", "")))
    text = "".join(parts)
    return (None, "msg_too_long") if len(text) > MAX_MARKDOWN_BLOCK else (text, None)


def _start_stream(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel, thread = str(args.get("channel", "")), str(args.get("thread_ts") or "")
    if not channel or not thread:
        return {"ok": False, "error": "invalid_arguments"}
    # Slack needs to know whom the stream is for when it streams into a channel (not a DM).
    recipient = args.get("recipient_team_id") and args.get("recipient_user_id")
    if channel.startswith(("C", "G")) and not recipient:
        return {"ok": False, "error": "missing_recipient_team_id"}
    text, error = _stream_text(args)
    if error:
        return {"ok": False, "error": error}
    ts = _next_ts(state)
    with state.cond:
        state.messages[(channel, ts)] = {"text": text, "blocks": [], "ts": ts, "thread_ts": thread}
        state.streams[(channel, ts)] = [text] if text else []
        state.streaming.add((channel, ts))
    return {"ok": True, "channel": channel, "ts": ts}


def _append_stream(state: FakeSlackState, args: dict[str, Any], *, stop: bool = False) -> dict[str, Any]:
    key = (str(args.get("channel", "")), str(args.get("ts", "")))
    text, error = _stream_text(args)
    if error:
        return {"ok": False, "error": error}
    if stop and (problem := check_message({"blocks": args.get("blocks") or []})):
        return {"ok": False, "error": problem[0], "response_metadata": {"messages": [problem[1]]}}
    with state.cond:
        if key not in state.messages:
            return {"ok": False, "error": "message_not_found"}
        if key not in state.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        if text:
            state.streams[key].append(text)
            state.messages[key]["text"] += text
        if stop:
            state.streaming.discard(key)
            state.messages[key]["blocks"] = args.get("blocks") or []
    return {"ok": True, "channel": key[0], "ts": key[1]}


def _usergroup_users(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    group = str(args.get("usergroup", ""))
    with state.cond:
        if group not in state.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(state.usergroups[group])}


def _connections_open(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any]:
    if not state.socket_url:
        return {"ok": False, "error": "socket_mode_not_enabled"}
    return {"ok": True, "url": state.socket_url}


_METHODS: Mapping[str, Callable[[FakeSlackState, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": lambda s, a: {
        "ok": True,
        "url": "https://acme.slack.com/",
        "team": "acme",
        "user": "regent",
        "team_id": TEAM,
        "user_id": BOT_USER,
        "bot_id": BOT_ID,
    },
    "chat.postMessage": _post,
    "chat.update": _update,
    "chat.postEphemeral": lambda s, a: {"ok": True, "message_ts": _next_ts(s)},
    "usergroups.users.list": _usergroup_users,
    "apps.connections.open": _connections_open,
    "conversations.replies": lambda s, a: {"ok": True, "messages": [], "has_more": False},
    "chat.delete": _delete,
    "views.publish": _publish,
    "chat.startStream": _start_stream,
    "chat.appendStream": _append_stream,
    "chat.stopStream": lambda s, a: _append_stream(s, a, stop=True),
}
_STREAM_METHODS = frozenset({"chat.startStream", "chat.appendStream", "chat.stopStream"})
_MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})

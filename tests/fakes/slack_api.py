"""A fake Slack Web API over real HTTP: records every call, enforces Block Kit limits, injects 429s.

Base URL for `WebClient(base_url=...)` is `fake.api_url` (`http://127.0.0.1:PORT/api/`). `response_url`
posts go to `fake.hook_url(name)` and are recorded under the method name "response_url". Limits follow
reference/slack.md section 5; a violation answers `invalid_blocks` / `msg_too_long` like Slack does.
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
}
_MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})

# -- Block Kit limits -------------------------------------------------------------------------------

MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ID = 255
MAX_MARKDOWN_BLOCK = 12_000


def check_message(args: Mapping[str, Any]) -> tuple[str, str] | None:
    """Slack's error code and a message for the first limit a message breaks, else None."""
    text = args.get("text") or ""
    if len(text) > MAX_TEXT:
        return "msg_too_long", f"text is {len(text)} characters (max {MAX_TEXT})"
    blocks = args.get("blocks") or []
    if not isinstance(blocks, list):
        return "invalid_blocks_format", "blocks must be an array"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks", f"{len(blocks)} blocks (max {MAX_BLOCKS})"
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        problem = _check_block(block, block_ids)
        if problem:
            return "invalid_blocks", f"blocks[{index}]: {problem}"
    return None


def _check_block(block: Mapping[str, Any], block_ids: set[str]) -> str | None:
    block_id = block.get("block_id")
    if block_id is not None:
        if len(block_id) > MAX_ID or block_id in block_ids:
            return f"block_id {block_id!r} too long or repeated"
        block_ids.add(block_id)
    kind = block.get("type")
    checks: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
        "section": _check_section,
        "header": lambda b: _check_text(b.get("text"), MAX_HEADER, plain=True),
        "actions": _check_actions,
        "context": lambda b: None if 0 < len(b.get("elements", [])) <= 10 else "context needs 1-10 elements",
        "markdown": lambda b: None if len(b.get("text", "")) <= MAX_MARKDOWN_BLOCK else "markdown too long",
        "divider": lambda b: None,
        "rich_text": lambda b: None,
    }
    check = checks.get(str(kind))
    return f"unsupported block type {kind!r}" if check is None else check(block)


def _check_text(obj: Any, limit: int, *, plain: bool = False) -> str | None:
    if not isinstance(obj, Mapping) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        return "text must be a text object"
    if plain and obj["type"] != "plain_text":
        return "must be plain_text"
    text = obj.get("text", "")
    if not text:
        return "text must not be empty"
    return f"text is {len(text)} characters (max {limit})" if len(text) > limit else None


def _check_section(block: Mapping[str, Any]) -> str | None:
    if "text" not in block and "fields" not in block:
        return "section needs text or fields"
    if "text" in block and (problem := _check_text(block["text"], MAX_SECTION_TEXT)):
        return problem
    fields = block.get("fields") or []
    if len(fields) > 10:
        return "more than 10 fields"
    for item in fields:
        if problem := _check_text(item, 2_000):
            return problem
    accessory = block.get("accessory")
    return _check_element(accessory) if accessory else None


def _check_actions(block: Mapping[str, Any]) -> str | None:
    elements = block.get("elements") or []
    if not 0 < len(elements) <= 25:
        return "actions needs 1-25 elements"
    action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
    if len(action_ids) != len(set(action_ids)):
        return "action_id repeated within a block"
    for element in elements:
        if problem := _check_element(element):
            return problem
    return None


def _check_element(element: Mapping[str, Any]) -> str | None:
    if element.get("type") != "button":
        return None
    if problem := _check_text(element.get("text"), MAX_BUTTON_TEXT, plain=True):
        return f"button {problem}"
    if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
        return "button value too long"
    if len(str(element.get("action_id", ""))) > MAX_ID:
        return "action_id too long"
    if element.get("style") not in {None, "primary", "danger"}:
        return "bad button style"
    confirm = element.get("confirm")
    if confirm:
        for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
            if problem := _check_text(confirm.get(key), limit, plain=key != "text"):
                return f"confirm.{key}: {problem}"
    return None

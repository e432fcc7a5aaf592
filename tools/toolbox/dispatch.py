"""The toolbox: the fixed set of typed tools the LLM may call, their strict schemas, and safe dispatch.

Each tool is one pydantic args model (docstring = description, every field described) and one function
returning a pydantic result. `Toolbox.call` never raises: unknown tools, tools not offered for this
message, malformed JSON, invalid arguments, failures and bugs all come back as a JSON error the model can
act on. Every result is cut to `max_result_chars` whatever the registry size, saying so (invariant 6).
Proposing tools only store a plan or an action and a proposal; nothing here deletes or changes anything.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from tools.errors import RegentError
from tools.toolbox.context import Call, ToolContext, ToolFailure
from tools.toolbox.results import ToolResult
from tools.toolbox.schema import function_tool, prepare_arguments
from tools.toolbox.specs import ToolSpec, default_tools

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 8000  # ~2,000 tokens
ErrorKind = Literal[
    "unknown_tool", "not_offered", "read_only", "invalid_json", "invalid_arguments", "failed", "internal"
]


@dataclass(slots=True)
class ToolOutcome:
    """What one call produced: the JSON text for the model, and facts for the loop and the audit log."""

    name: str
    content: str
    arguments: dict[str, Any]
    error: ErrorKind | None = None
    proposal_ids: list[str] = field(default_factory=list)
    truncated: bool = False
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned a result."""
        return self.error is None


class Toolbox:
    """The tools bound to a context; schemas are generated once."""

    def __init__(
        self,
        context: ToolContext,
        *,
        tools: tuple[ToolSpec, ...] | None = None,
        max_result_chars: int = MAX_RESULT_CHARS,
    ) -> None:
        self.context = context
        self._tools = {spec.name: spec for spec in (tools or default_tools())}
        self._max_chars = max_result_chars
        self._schemas = {name: function_tool(name, spec.args) for name, spec in self._tools.items()}
        self._observers: list[Callable[[ToolOutcome], None]] = []

    def observe(self, observer: Callable[[ToolOutcome], None]) -> None:
        """Call `observer` with every call's outcome (metrics); it must not raise."""
        self._observers.append(observer)

    def names(self, *, proposing: bool | Collection[str]) -> list[str]:
        """Tool names offered: read-only ones, plus proposing ones (all when True, else those whose
        intent the user asked for), never in read-only mode."""
        if self.context.read_only:
            proposing = False
        return [
            name
            for name, spec in self._tools.items()
            if not spec.proposes
            or proposing is True
            or (not isinstance(proposing, bool) and spec.intent in proposing)
        ]

    def is_proposing(self, name: str) -> bool:
        """True for tools that create proposals."""
        spec = self._tools.get(name)
        return spec is not None and spec.proposes

    def openai_tools(self, names: Collection[str]) -> list[dict[str, Any]]:
        """Chat Completions `tools` entries (strict function schemas) for these names."""
        return [self._schemas[name] for name in self._tools if name in names]

    def status(self, name: str, arguments: str) -> str:
        """A short progress line for this call, e.g. 'Looking up shop/api:1.4.0…'."""
        spec = self._tools.get(name)
        if spec is None:
            return "Working…"
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            parsed = {}
        return spec.status(parsed if isinstance(parsed, dict) else {})

    def call(
        self,
        name: str,
        arguments: str,
        *,
        user: str,
        conversation: str,
        offered: Collection[str] | None = None,
    ) -> ToolOutcome:
        """Validate and run one tool call; every problem becomes an error result, never an exception."""
        started = time.monotonic()
        outcome = self._dispatch(name, arguments, user=user, conversation=conversation, offered=offered)
        outcome.elapsed_s = time.monotonic() - started
        for observer in self._observers:
            observer(outcome)
        return outcome

    def _dispatch(
        self, name: str, arguments: str, *, user: str, conversation: str, offered: Collection[str] | None
    ) -> ToolOutcome:
        spec = self._tools.get(name)
        if spec is None:
            known = ", ".join(offered if offered is not None else self._tools)
            return _error(
                name, {}, "unknown_tool", f"there is no tool named {name!r}", f"use one of: {known}"
            )
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return _error(
                name, {}, "invalid_json", f"arguments are not valid JSON ({exc.msg})", "send a JSON object"
            )
        if not isinstance(raw, dict):
            return _error(name, {}, "invalid_json", "arguments must be a JSON object", "send a JSON object")
        if spec.proposes and self.context.read_only:
            return _error(name, raw, "read_only", self.context.read_only, "tell the user why; do not retry")
        if offered is not None and name not in offered:
            return _error(
                name,
                raw,
                "not_offered",
                f"{name} is not available for this message: proposals are only made when the user's own "
                "message asks for that change (delete or clean up images, suspend a user, open a ticket)",
                "answer the question; the user can ask for the change explicitly",
            )
        try:
            args = spec.args.model_validate(prepare_arguments(spec.args, raw))
        except ValidationError as exc:
            return _invalid(name, raw, exc)
        try:
            result = spec.run(Call(context=self.context, user=user, conversation=conversation), args)
        except ToolFailure as exc:
            return _error(name, raw, "failed", str(exc), exc.hint)
        except RegentError as exc:
            return _error(name, raw, "failed", str(exc), "try a narrower or different query")
        except Exception:
            log.exception("tool %s failed", name)
            return _error(name, raw, "internal", f"internal error in {name}", "try a different query")
        return self._bounded(name, raw, result)

    def _bounded(self, name: str, arguments: dict[str, Any], result: ToolResult) -> ToolOutcome:
        data = result.model_dump(mode="json", exclude_none=True)
        if not data.get("truncated"):
            data.pop("truncated", None)  # say it only when it is true: fewer tokens
        proposal = data.get("proposal_id")
        text, cut = bound_json(data, max_chars=self._max_chars)
        if text is None:
            return _error(
                name,
                arguments,
                "failed",
                "the result is too large to return",
                "narrow the query (filters, limit)",
            )
        return ToolOutcome(
            name=name,
            content=text,
            arguments=arguments,
            proposal_ids=[proposal] if isinstance(proposal, str) else [],
            truncated=bool(data.get("truncated")) or cut,
        )


def _error(name: str, arguments: dict[str, Any], kind: ErrorKind, message: str, hint: str) -> ToolOutcome:
    body = {"error": message, "hint": hint} if hint else {"error": message}
    return ToolOutcome(name=name, content=dumps(body), arguments=arguments, error=kind)


def _invalid(name: str, arguments: dict[str, Any], exc: ValidationError) -> ToolOutcome:
    problems = []
    for err in exc.errors(include_url=False)[:8]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        got = f" (got {json.dumps(err['input'], default=str)[:60]})" if err["type"] != "missing" else ""
        problems.append(f"{where}: {err['msg']}{got}")
    body = {
        "error": f"invalid arguments for {name}",
        "problems": problems,
        "hint": f"call {name} again with corrected arguments",
    }
    return ToolOutcome(name=name, content=dumps(body), arguments=arguments, error="invalid_arguments")


def dumps(data: Any) -> str:
    """Compact JSON, non-ASCII kept (fewer tokens than escapes)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def bound_json(data: dict[str, Any], *, max_chars: int) -> tuple[str | None, bool]:
    """JSON of data within max_chars, halving its longest list until it fits; (None, True) if it cannot."""
    text = dumps(data)
    cut = False
    while len(text) > max_chars:
        found = _longest_list(data)
        if found is None:
            return None, True
        holder, key = found
        items = holder[key]
        holder[key] = items[: len(items) // 2]
        cut = True
        data["truncated"] = True
        data["note"] = (
            f"{data.get('note') or ''} result cut to fit the size limit ({key} shortened); "
            "narrow the query or lower limit"
        ).strip()
        text = dumps(data)
    return text, cut


def _longest_list(data: Any) -> tuple[dict[str, Any], str] | None:
    """The (holder, key) of the list with the longest JSON anywhere in data (at least one item)."""
    best: tuple[int, dict[str, Any], str] | None = None
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, list) and value:
                    size = len(dumps(value))
                    if best is None or size > best[0]:
                        best = (size, node, key)
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
    return (best[1], best[2]) if best is not None else None

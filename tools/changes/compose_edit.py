"""Editing one service's environment in a Compose file as text, so the diff an approver sees is small.

A stack file is the team's own text (comments, order, quoting). Loading and dumping it with a YAML library
would rewrite all of it; instead the lines of `services.<name>.environment` are edited in place (a map or
a list, block style), and the result is loaded again and compared with the intended document. When the
text edit cannot be made safely (flow style, anchors, an unusual layout) or does not load back to exactly
the intended document, the whole file is dumped from the intended document instead, and the diff says so.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from tools.errors import ChangeRefused

MAX_STACK_FILE = 512 * 1024  # characters; larger stack files are refused, not edited


def load_compose(text: str, *, what: str = "the stack file") -> dict[str, Any]:
    """The Compose document, or ChangeRefused saying why it is not one Regent can edit."""
    if len(text) > MAX_STACK_FILE:
        raise ChangeRefused(f"{what} is larger than {MAX_STACK_FILE // 1024} KiB; Regent does not edit it")
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ChangeRefused(f"{what} is not valid YAML: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ChangeRefused(f"{what} has no `services:` map; it is not a Compose file Regent can edit")
    return document


def service_of(document: Mapping[str, Any], service: str, *, what: str = "the stack file") -> dict[str, Any]:
    """One service's definition, or ChangeRefused naming the services there are."""
    services = document["services"]
    found = services.get(service)
    if not isinstance(found, dict):
        names = ", ".join(sorted(str(name) for name in services)[:10]) or "none"
        raise ChangeRefused(f"{what} has no service {service!r} (services: {names})")
    return found


def service_environment(document: Mapping[str, Any], service: str) -> dict[str, str | None]:
    """The service's environment as a map (a list's `KEY=value` items split; a bare `KEY` maps to None)."""
    env = service_of(document, service).get("environment")
    if isinstance(env, dict):
        return {str(k): None if v is None else _scalar(v) for k, v in env.items()}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    return {}


def set_service_environment(text: str, service: str, values: Mapping[str, str | None]) -> tuple[str, bool]:
    """The stack file with these variables set (None: removed) on the service; (text, True) if only those
    lines changed. False means the text edit was not possible and the whole file was re-dumped from the
    intended document (comments are lost).
    """
    document = load_compose(text)
    intended = copy.deepcopy(document)
    target = service_of(intended, service)
    env = target.get("environment")
    setting = {key: value for key, value in values.items() if value is not None}
    if isinstance(env, list):
        kept = [item for item in env if str(item).partition("=")[0] not in values]
        target["environment"] = kept + [f"{key}={value}" for key, value in setting.items()]
    else:
        merged = {k: v for k, v in (env or {}).items() if k not in values} if isinstance(env, dict) else {}
        merged.update(setting)
        if merged:
            target["environment"] = merged
        else:
            target.pop("environment", None)  # the text edit drops an emptied `environment:` line too
    edited = _edit_lines(text, service, values)
    if edited is not None:
        try:
            if yaml.safe_load(edited) == intended:
                return edited, True
        except yaml.YAMLError:
            pass
    return yaml.safe_dump(intended, sort_keys=False, default_flow_style=False), False


def stack_diff(old: str, new: str, *, name: str) -> str:
    """A unified diff of two versions of a stack file (3 lines of context), for a card: the value of any
    line that looks like a credential (PASSWORD, SECRET, TOKEN, KEY) is masked, since cards go to Slack."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{name} (now)",
        tofile=f"{name} (proposed)",
        n=3,
    )
    return "".join(_masked(line if line.endswith("\n") else line + "\n") for line in lines)


_CREDENTIAL = re.compile(
    r"^([+\- ].*?(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|CREDENTIAL)[A-Z0-9_]*[\"']?\s*[:=]\s*)"
    r"(\S.*)$",
    re.IGNORECASE,
)


def _masked(line: str) -> str:
    found = _CREDENTIAL.match(line.rstrip("\n"))
    return f"{found.group(1)}*** (masked)\n" if found else line


# -- the text edit ------------------------------------------------------------------------------------

_KEY = r"""(?:"{name}"|'{name}'|{name})"""


def _edit_lines(text: str, service: str, values: Mapping[str, str | None]) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    top = _find(lines, 0, len(lines), 0, "services")
    if top is None:
        return None
    start, end = top + 1, _block_end(lines, top + 1, 0)
    indent = _first_indent(lines, start, end)
    if indent is None:
        return None
    line = _find(lines, start, end, indent, re.escape(service))
    if line is None:
        return None
    body_start, body_end = line + 1, _block_end(lines, line + 1, indent)
    key_indent = _first_indent(lines, body_start, body_end)
    if key_indent is None or key_indent <= indent:
        return None
    env_line = _find(lines, body_start, body_end, key_indent, "environment")
    if env_line is None:
        setting = {key: value for key, value in values.items() if value is not None}
        if not setting:
            return "".join(lines)
        new = [" " * key_indent + "environment:\n"]
        new += [f"{' ' * (key_indent + 2)}{key}: {json.dumps(value)}\n" for key, value in setting.items()]
        last = max(i for i in range(body_start, body_end) if _is_content(lines[i]))
        return "".join(lines[: last + 1] + new + lines[last + 1 :])
    if _inline_value(lines[env_line]):
        return None  # flow style or a scalar: not edited as text
    items_start, items_end = env_line + 1, _block_end(lines, env_line + 1, key_indent)
    item_indent = _first_indent(lines, items_start, items_end) or key_indent + 2
    is_list = any(lines[i].strip().startswith("- ") for i in range(items_start, items_end))
    for key, value in values.items():
        rendered = (
            f"{' ' * item_indent}- {json.dumps(f'{key}={value}')}\n"
            if is_list
            else f"{' ' * item_indent}{key}: {json.dumps(value)}\n"
        )
        pattern = (
            rf"""^\s{{{item_indent}}}-\s*["']?{re.escape(key)}(=|["']?\s*(#.*)?$)"""
            if is_list
            else rf"^\s{{{item_indent}}}{_KEY.format(name=re.escape(key))}\s*:"
        )
        found = next((i for i in range(items_start, items_end) if re.match(pattern, lines[i])), None)
        if value is None:
            if found is not None:
                del lines[found]
                items_end -= 1
        elif found is not None:
            lines[found] = rendered
        else:
            last = max((i for i in range(items_start, items_end) if lines[i].strip()), default=env_line)
            lines.insert(last + 1, rendered)
            items_end += 1
    if not any(_is_content(lines[i]) for i in range(items_start, items_end)):
        del lines[env_line]
    return "".join(lines)


def _find(lines: list[str], start: int, end: int, indent: int, name: str) -> int | None:
    pattern = re.compile(rf"^ {{{indent}}}{_KEY.format(name=name)}\s*:\s*(#.*)?$")
    return next((i for i in range(start, end) if pattern.match(lines[i].rstrip("\n"))), None)


def _inline_value(line: str) -> bool:
    value = line.split(":", 1)[1].split("#", 1)[0].strip() if ":" in line else ""
    return bool(value)


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The end of the block under a key at `indent`: the first line less indented, or as indented and not
    a list item (YAML lets a key's list items sit at the key's own indent)."""
    for i in range(start, len(lines)):
        if not _is_content(lines[i]):
            continue
        here = _indent(lines[i])
        if here < indent or (here == indent and not lines[i].lstrip().startswith("- ")):
            return i
    return len(lines)


def _first_indent(lines: list[str], start: int, end: int) -> int | None:
    return next((_indent(lines[i]) for i in range(start, end) if _is_content(lines[i])), None)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

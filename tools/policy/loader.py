"""Load a policies YAML file into `PolicyFile`, turning every problem into one located, readable message.

Errors name `file:line:column` and the field path (`policies[0].keep[1].most_recent`); the line comes from
the YAML node the pydantic error location points at, so users never see a traceback.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tools.errors import PolicyFileError
from tools.policy.model import PolicyFile


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policies file, with where it is."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def load_policies(path: str | Path) -> PolicyFile:
    """Read and validate a policies file; raise PolicyFileError with located messages."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError([PolicyIssue(str(path), 1, 1, "", f"cannot read the file: {exc}")]) from None
    return parse_policies(text, source=str(path))


def parse_policies(text: str, *, source: str = "<policies>") -> PolicyFile:
    """Validate policies YAML text; raise PolicyFileError naming `source:line:column` and the field."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PolicyFileError([PolicyIssue(source, 1, 1, "", "the file is empty; expected 'policies:'")])
        duplicate = _find_duplicate_key(node)
        if duplicate is not None:
            raise PolicyFileError([_issue_at(source, duplicate[1], duplicate[0], "key appears twice")])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML error: {exc.problem or exc.context}"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PolicyFileError([PolicyIssue(source, line, column, "", message)]) from None
    except yaml.YAMLError as exc:
        raise PolicyFileError([PolicyIssue(source, 1, 1, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    duplicate_name = _duplicate_name(data)
    if duplicate_name is not None:
        loc: tuple[int | str, ...] = ("policies", duplicate_name[0], "name")
        message = f"policy name {duplicate_name[1]!r} is used twice; names must be unique"
        raise PolicyFileError(
            [_issue_at(source, _node_at(node, loc, extra=False), format_path(loc), message)]
        )
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyFileError(
            [_issue_from_error(source, node, err) for err in exc.errors(include_url=False)]
        ) from None


def _find_duplicate_key(node: yaml.Node, path: str = "") -> tuple[str, yaml.Node] | None:
    """First mapping key that appears twice (YAML keeps the last one silently), with its path."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = f"{path}.{key}" if path else str(key)
            if key in seen:
                return child, key_node
            seen.add(key)
            found = _find_duplicate_key(value_node, child)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _find_duplicate_key(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _duplicate_name(data: Any) -> tuple[int, str] | None:
    """Index and name of the first policy whose name an earlier one already has."""
    policies = data.get("policies") if isinstance(data, dict) else None
    seen: set[str] = set()
    for index, policy in enumerate(policies if isinstance(policies, list) else []):
        name = policy.get("name") if isinstance(policy, dict) else None
        if isinstance(name, str):
            if name in seen:
                return index, name
            seen.add(name)
    return None


def _issue_at(source: str, node: yaml.Node, path: str, message: str) -> PolicyIssue:
    mark = node.start_mark
    return PolicyIssue(source, mark.line + 1, mark.column + 1, path, message)


def _issue_from_error(source: str, root: yaml.Node, err: ErrorDetails) -> PolicyIssue:
    loc = tuple(err["loc"])
    node = _node_at(root, loc, extra=err["type"] == "extra_forbidden")
    return _issue_at(source, node, format_path(loc), _message(err, loc))


def format_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `policies[0].keep[1].most_recent`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _node_at(root: yaml.Node, loc: tuple[int | str, ...], *, extra: bool) -> yaml.Node:
    """The deepest YAML node along loc; for an unknown key, the key itself (that is what is wrong)."""
    node = root
    for depth, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next((kv for kv in node.value if str(kv[0].value) == str(part)), None)
            if pair is None:
                return node
            is_last = depth == len(loc) - 1
            node = pair[0] if (extra and is_last) else pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _message(err: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown field {loc[-1]!r} (allowed: {', '.join(allowed)}){suggestion}"
    if kind == "model_type":
        return f"expected a mapping of fields, got {type(value).__name__} {_short(value)}"
    if kind == "missing":
        return "this field is required"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "string_type" and isinstance(value, int | float | bool):
        return f"expected a string, got {value!r}: quote it, YAML read it as {type(value).__name__}"
    if kind == "literal_error" or kind.endswith("_type") or kind.startswith(("greater", "less", "too_")):
        return f"{msg} (got {value!r})"
    return msg


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model found by walking loc down from PolicyFile."""
    model: type[BaseModel] = PolicyFile
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        nested = _model_in(field.annotation)
        if nested is None:
            break
        model = nested
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None

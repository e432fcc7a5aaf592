"""JSON from outside (webhook bodies, uploaded reports, feed files): decoded safely or refused clearly.

`json.loads` alone lets hostile input through in ways that crash later or far away: nesting deep enough
to raise RecursionError (here, or in the next `json.dumps` or validator), `NaN`/`Infinity` (not JSON, and
they poison sums and hashes), integers past Python's digit limit (ValueError, not JSONDecodeError), and
unpaired surrogate escapes (`"\\ud800"`) that decode fine but fail when the text is stored or encoded.
Every one of those is an `InvalidJson` here, with a message that says what to fix.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from tools.errors import InvalidJson

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only escapes can put a surrogate in decoded text
MAX_DEPTH = 64  # notifications and scanner reports nest under 15 levels; anything deeper is hostile


def load_json(
    data: bytes | str, *, what: str = "body", expected: str = "a JSON document", max_depth: int = MAX_DEPTH
) -> Any:
    """Decode untrusted JSON; InvalidJson (never another exception) names what is wrong and where."""
    text = _as_text(data)
    if not text.strip():
        raise InvalidJson(f"empty {what}; expected {expected}")
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        hint = f" — the {what} looks truncated" if _unclosed(text) else ""
        raise InvalidJson(
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except RecursionError:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # NaN/Infinity, 1e999 (below) and integers longer than 4300 digits
        raise InvalidJson(f"not valid JSON: {str(exc)[:200]}") from None
    if _deeper_than(document, max_depth):
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(document):
        raise InvalidJson("a JSON string has an unpaired surrogate escape (\\ud800-\\udfff)")
    return document


def _encodable(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _as_text(data: bytes | str) -> str:
    if isinstance(data, str):
        try:
            data.encode()  # a str from a caller may hold raw surrogates, which no store can keep
        except UnicodeEncodeError as exc:
            raise InvalidJson(f"unpaired surrogate at character {exc.start}") from None
        return data
    try:
        return data.decode("utf-8-sig")  # a BOM is what Windows editors and PowerShell write
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"not UTF-8 text (byte {exc.start})") from None


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999 parses as infinity: the same poison as a literal Infinity
        raise ValueError(f"{text[:30]} is out of range for a number")
    return value


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels; iterative, so depth itself cannot crash it."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _unclosed(text: str) -> bool:
    """Whether brackets or a string are still open at the end: the mark of a cut-off upload or copy."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0

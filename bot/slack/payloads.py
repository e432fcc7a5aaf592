"""Reading Slack's payloads without trusting their shape.

Slack signs what it sends, but a payload is still input from outside: a field can be missing, null or of
another type (an API change, a replayed or hand-made request in HTTP mode), and Bolt hands listeners plain
dicts. These readers give "" or None instead of raising, so a malformed click is refused downstream (an
unknown proposal id, no channel to answer in) rather than failing in a worker thread.
"""

from __future__ import annotations

from typing import Any


def as_dict(value: object) -> dict[str, Any]:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    """`actions[0]` of a block_actions payload, or an empty object."""
    actions = body.get("actions")
    return as_dict(actions[0]) if isinstance(actions, list) and actions else {}


def text_of(value: object) -> str:
    """A string field (ids, values, timestamps); "" for anything that is not a string or a number."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def first_text_of(*values: object) -> str | None:
    """The first non-empty string field among `values`, or None."""
    return next((found for found in (text_of(value) for value in values) if found), None)

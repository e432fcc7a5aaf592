"""Block Kit limits the fake Slack enforces (reference/slack.md section 5), for messages and Home views.

A violation is answered the way Slack answers it (`invalid_blocks`, `msg_too_long`), so tests catch the
bugs a real workspace would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ID = 255
MAX_MARKDOWN_BLOCK = 12_000
MAX_VIEW_BLOCKS = 100  # a Home tab or a modal
MAX_PRIVATE_METADATA = 3_000


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


def check_view(view: Any) -> str | None:
    """What is wrong with a Home tab view (views.publish), or None."""
    if not isinstance(view, Mapping):
        return "view must be an object"
    if view.get("type") != "home":
        return f"view type {view.get('type')!r} is not home"
    if any(key in view for key in ("title", "submit", "close")):
        return "a Home tab has no title, submit or close"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= MAX_VIEW_BLOCKS:
        count = len(blocks) if isinstance(blocks, list) else "no"
        return f"{count} blocks (a view needs 1-{MAX_VIEW_BLOCKS})"
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        return "private_metadata too long"
    if len(str(view.get("callback_id", ""))) > MAX_ID:
        return "callback_id too long"
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        problem = _check_block(block, block_ids)
        if problem:
            return f"blocks[{index}]: {problem}"
    return None

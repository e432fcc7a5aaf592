"""When the model's last word is not an answer: a tool call written as text, and what to say instead.

A small model that has called tools sometimes answers its final, tool-less step with another tool call
written out as a JSON block. That is no answer for a person; the reply then says so and lists the
headlines of the tool results it did get (deterministic text from the tools), and the loop marks the
reply as failed (`error`), so evals count it as what it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOOL_CALL_TEXT = re.compile(r'^\s*(?:```(?:json)?\s*)?\{\s*"name"\s*:', re.IGNORECASE)
NOT_PHRASED = "the language model did not phrase an answer"


def looks_like_tool_call(text: str) -> bool:
    """True for a JSON tool call written as the answer text."""
    return bool(_TOOL_CALL_TEXT.match(text))


def tool_headlines(messages: list[dict[str, Any]]) -> list[str]:
    """The headline of every tool result in the conversation, in order, without repeats."""
    found: list[str] = []
    for message in messages:
        if message.get("role") != "tool":
            continue
        try:
            headline = json.loads(str(message.get("content"))).get("headline")
        except (ValueError, AttributeError):
            continue
        if isinstance(headline, str) and headline not in found:
            found.append(headline)
    return found


def unphrased_reply(messages: list[dict[str, Any]]) -> str:
    """What a person sees instead of a tool call: the facts the tools returned, or an apology."""
    headlines = tool_headlines(messages)
    if not headlines:
        return "I could not put an answer together; please ask again, perhaps more narrowly."
    listed = "\n".join(f"• {headline}" for headline in headlines[:5])
    return f"I could not put an answer into words; this is what the tools returned:\n{listed}"

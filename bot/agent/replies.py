"""When the model's last word is not an answer: a tool call written as text, and what to say instead.

A small model that has called tools sometimes answers its final, tool-less step with another tool call
written out as a JSON block. That is no answer for a person; the reply then says so and lists the
headlines of the tool results it did get (deterministic text from the tools), and the loop marks the
reply as failed (`error`), so evals count it as what it is.

A tool result cut to its limit says so (`truncated`, and a `note`: "showing 20 of 120 matching images;
narrow with …"). A small model lists the 20 as if they were all; the reply then ends with that note, so
a person always learns that the list is partial and how to narrow it.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOOL_CALL_TEXT = re.compile(r'^\s*(?:```(?:json)?\s*)?\{\s*"name"\s*:', re.IGNORECASE)
NOT_PHRASED = "the language model did not phrase an answer"
# An answer with any of these words already says that it is partial.
_SAYS_PARTIAL = re.compile(
    r"partial|truncated|\bnot all\b|\bshowing \d|only the first|\bcut\b", re.IGNORECASE
)


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


def cut_notes(messages: list[dict[str, Any]]) -> list[str]:
    """The notes of the tool results that were cut (truncated), in order, without repeats."""
    found: list[str] = []
    for message in messages:
        if message.get("role") != "tool":
            continue
        try:
            data = json.loads(str(message.get("content")))
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("truncated") is not True:
            continue
        written = data.get("note")
        note = written if isinstance(written, str) else "a result was cut to its size limit"
        if note not in found:
            found.append(note)
    return found


def partial_notice(text: str, messages: list[dict[str, Any]]) -> str:
    """A line to add to the answer when a tool result was cut and the answer does not say so, else ''."""
    notes = cut_notes(messages)
    if not notes or _SAYS_PARTIAL.search(text):
        return ""
    return f"\n_(partial list: {'; '.join(notes[:3])})_"

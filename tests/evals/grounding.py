"""The grounding check: every number in an answer must come from what the conversation saw.

A number is grounded when it appears in a tool result of the conversation or in the user's own words
(the user's "older than 90 days" may be echoed), after normalising the way people write numbers:

- thousands separators: `4,082,771` = `4082771`;
- units: `3.9 MiB`, `3.9 MB`, `4.1 MB` or `4,082 KB` is grounded by a byte count (4,082,771) in a result
  when it equals that count in the unit (binary or decimal) at the precision written;
- counting: `5 tags` is grounded by a list of five items in a result (counting what a tool listed is not
  inventing);
- parts of names: `1.4.0` in `shop/api:1.4.0` is grounded by the same name in a result; digests and
  other hex identifiers are not numbers (a wrong digest fails the case's facts instead);
- dates: `2026-11-20` is three numbers, each found in the result's date.

Numbered-list markers (`1.` at the start of a line) are layout, not facts, and are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_HEX = re.compile(r"sha256:[0-9a-f]*|\b(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.IGNORECASE)
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
# A number as people write it: 1,234,567 / 3.9 / 1.4.0 / 42; a following unit is captured for sizes.
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)((?:\.\d+)*)(?:\s?(B|bytes?|KiB|MiB|GiB|TiB|KB|MB|GB|TB|kB)\b)?",
)
_UNITS = {
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}


@dataclass(frozen=True, slots=True)
class Number:
    """One number in a text: as written, its normalised form, and its unit (lower case) if any."""

    written: str
    value: str
    unit: str | None


def numbers_in(text: str) -> list[Number]:
    """Every number in `text`, digests and hex identifiers and list markers left out."""
    cleaned = _LIST_MARKER.sub(" ", _HEX.sub(" ", text))
    found = []
    for match in _NUMBER.finditer(cleaned):
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        found.append(Number(match.group(0).strip(), whole.replace(",", "") + fraction, _unit(unit)))
    return found


def _unit(unit: str | None) -> str | None:
    if unit is None:
        return None
    lowered = unit.lower()
    return "b" if lowered in {"b", "byte", "bytes"} else lowered


@dataclass(slots=True)
class Sources:
    """What an answer may draw numbers from: tool results and the user's words."""

    tokens: set[str]
    integers: set[int]
    list_lengths: set[int]

    @classmethod
    def of(cls, *, tool_results: Iterable[str], user_texts: Iterable[str]) -> Sources:
        """Index the numbers of every tool result (JSON or text) and user message."""
        sources = cls(set(), set(), set())
        for text in [*tool_results, *user_texts]:
            sources.add_text(text)
        for result in tool_results:
            try:
                sources.list_lengths.update(_list_lengths(json.loads(result)))
            except ValueError:
                continue
        return sources

    def add_text(self, text: str) -> None:
        """Index the numbers of one text."""
        for number in numbers_in(text):
            self.tokens.add(number.value)
            self.tokens.update(number.value.split("."))  # 1.4.0 grounds the 1 of "1 image" too
            if number.value.isdigit():
                self.integers.add(int(number.value))

    def grounds(self, number: Number) -> bool:
        """Whether the number appears, is a count of a listed result, or is a size in some unit."""
        if number.value in self.tokens:
            return True
        if number.value.isdigit() and int(number.value) in self.list_lengths:
            return True
        factor = _UNITS.get(number.unit or "")
        return factor is not None and self._is_size(number.value, factor)

    def _is_size(self, value: str, factor: int) -> bool:
        try:
            shown = float(value)
        except ValueError:
            return False
        decimals = len(value.partition(".")[2])
        tolerance = 0.5 * 10**-decimals + 1e-9
        return any(abs(count / factor - shown) <= tolerance for count in self.integers if count >= factor / 2)


def _list_lengths(data: Any) -> Iterator[int]:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            yield len(node)
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())


def ungrounded_numbers(answer: str, *, tool_results: Iterable[str], user_texts: Iterable[str]) -> list[str]:
    """The numbers of `answer` (as written) that no tool result or user message grounds, in order."""
    sources = Sources.of(tool_results=list(tool_results), user_texts=list(user_texts))
    missing: list[str] = []
    for number in numbers_in(answer):
        if not sources.grounds(number) and number.written not in missing:
            missing.append(number.written)
    return missing

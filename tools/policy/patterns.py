"""Name patterns of retention policies: globs (`*` stays inside a path segment, `**` crosses `/`) and
`re:`-prefixed regular expressions, both matched against the whole name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from tools.errors import PatternError

REGEX_PREFIX = "re:"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a policy pattern (glob, or regex after `re:`) into a full-match regular expression."""
    return _compile_cached(pattern)


@lru_cache(maxsize=4096)
def _compile_cached(pattern: str) -> re.Pattern[str]:
    if pattern.startswith(REGEX_PREFIX):
        source = pattern[len(REGEX_PREFIX) :]
        if not source:
            raise PatternError("empty regular expression after 're:'")
        try:
            return re.compile(f"(?:{source})\\Z")
        except re.error as exc:
            raise PatternError(
                f"bad regular expression {source!r}: {exc.msg} at position {exc.pos}"
            ) from None
    if not pattern:
        raise PatternError("empty pattern")
    return re.compile(glob_to_regex(pattern) + "\\Z")


def glob_to_regex(glob: str) -> str:
    """Translate a glob to regex source: `*` and `?` stop at `/`, `**` crosses it, `[...]` is a class."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        if char == "*":
            i = _translate_stars(glob, i, out)
            continue
        if char == "?":
            out.append("[^/]")
        elif char == "[":
            i = _translate_class(glob, i, out)
            continue
        elif char == "\\":
            if i + 1 >= n:
                raise PatternError(f"bad glob {glob!r}: trailing backslash")
            out.append(re.escape(glob[i + 1]))
            i += 1
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _translate_stars(glob: str, i: int, out: list[str]) -> int:
    """Append the regex for the run of `*` starting at i; return the index after it."""
    j = i
    while j < len(glob) and glob[j] == "*":
        j += 1
    if j - i == 1:
        out.append("[^/]*")
        return j
    starts_segment = i == 0 or glob[i - 1] == "/"
    if starts_segment and j < len(glob) and glob[j] == "/":
        out.append("(?:[^/]*/)*")  # "**/" is zero or more whole segments
        return j + 1
    if i > 0 and starts_segment and j == len(glob):
        out.pop()  # the "/" before a trailing "/**": "team/**" also matches "team" itself
        out.append("(?:/.*)?")
        return j
    out.append(".*")
    return j


def _translate_class(glob: str, i: int, out: list[str]) -> int:
    """Append a character class starting at glob[i] == '['; return the index after its ']'."""
    j = i + 1
    if j < len(glob) and glob[j] in "!^":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1  # a leading "]" is a literal member
    while j < len(glob) and glob[j] != "]":
        j += 1
    if j >= len(glob):
        raise PatternError(f"bad glob {glob!r}: '[' at position {i} is never closed")
    body = glob[i + 1 : j]
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    if not body:
        raise PatternError(f"bad glob {glob!r}: empty character class at position {i}")
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    out.append(f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]")
    return j + 1


def match_any(patterns: Iterable[re.Pattern[str]], name: str) -> bool:
    """True if any compiled pattern matches the whole name."""
    return any(p.match(name) for p in patterns)


def first_match(patterns: Iterable[tuple[str, re.Pattern[str]]], name: str) -> str | None:
    """The source of the first (source, compiled) pattern that matches the name, or None."""
    for source, compiled in patterns:
        if compiled.match(name):
            return source
    return None

"""Globs: `*` and `?` stay inside a path segment, `**` crosses `/`; `re:` is a full-match regex."""

from __future__ import annotations

import pytest

from tools.errors import PatternError
from tools.policy.patterns import compile_pattern

CASES = [
    ("team-x/*", "team-x/api", True),
    ("team-x/*", "team-x/api/v2", False),
    ("team-x/**", "team-x/api/v2", True),
    ("team-x/**", "team-x", True),
    ("team-x/**", "team-xy/api", False),
    ("**/api", "api", True),
    ("**/api", "a/b/api", True),
    ("**", "a/b/c", True),
    ("*", "a/b", False),
    ("v*", "v1.2.3", True),
    ("v?.0", "v1.0", True),
    ("v?.0", "v/.0", False),
    ("[!a]pi", "bpi", True),
    ("[!a]pi", "api", False),
    ("[a-c]pi", "bpi", True),
    ("re:v[0-9]+", "v12", True),
    ("re:v[0-9]+", "v12-rc", False),
    ("re:team-(x|y)/.*", "team-y/db", True),
    ("a.b", "axb", False),
    ("a\\*", "a*", True),
    ("a\\*", "ab", False),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), CASES)
def test_pattern_semantics(pattern: str, name: str, expected: bool) -> None:
    assert bool(compile_pattern(pattern).match(name)) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("x[ab", "never closed"),
        ("re:(", "bad regular expression"),
        ("", "empty"),
        ("re:", "empty"),
        ("a\\", "trailing"),
    ],
)
def test_bad_patterns_say_why(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        compile_pattern(pattern)

"""Pieces every tool result shares: the truncation notice, registry text as bounded data, compact times.

Registry text (labels, annotations, tags, repository names) is written by whoever pushed the image, so it
is data, never instructions: it travels only inside typed fields, control characters are removed and
every value is cut to a bounded length, and the system prompt tells the model so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from tools.analysis.clocks import as_utc
from tools.analysis.text import clean_text
from tools.errors import PatternError
from tools.policy.patterns import compile_pattern
from tools.toolbox.context import ToolFailure


class ToolResult(BaseModel):
    """Base of every tool result: the answer in one line first, then whether it was cut and how to narrow
    the question (a small model copies a headline more reliably than it assembles one from fields)."""

    model_config = ConfigDict(extra="forbid")

    headline: str | None = None
    truncated: bool = False
    note: str | None = None


class Label(BaseModel):
    """One label or annotation from the registry (untrusted text, shown as data)."""

    key: str
    value: str


def labels_of(values: Mapping[str, str], *, limit: int = 25) -> tuple[list[Label], int]:
    """Up to `limit` labels, cleaned, sorted by key; plus how many were left out."""
    keys = sorted(values)
    shown = [Label(key=clean_text(k, limit=100), value=clean_text(values[k])) for k in keys[:limit]]
    return shown, max(0, len(keys) - limit)


def day(moment: datetime | None) -> str | None:
    """A date as YYYY-MM-DD (UTC), or None."""
    return as_utc(moment).strftime("%Y-%m-%d") if moment is not None else None


def public_url(url: str) -> str:
    """A URL without user:password@ (a registry URL from config may carry credentials)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def cut_note(shown: int, total: int, what: str, hint: str) -> str | None:
    """The notice for a cut list: 'showing 20 of 20,000 tags; <how to narrow>' (None if nothing cut)."""
    if shown >= total:
        return None
    return f"showing {shown:,} of {total:,} {what}; {hint}"


def compile_glob(value: str | None, what: str) -> re.Pattern[str] | None:
    """A user's glob compiled with the policy engine's rules, or a ToolFailure explaining the mistake."""
    if not value:
        return None
    try:
        return compile_pattern(value)
    except PatternError as exc:
        raise ToolFailure(f"bad {what} glob {value!r}: {exc}", hint="use '*', '**', '?' or [abc]") from None

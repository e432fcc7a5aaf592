"""Registry text made safe to show: labels, names and annotations come from whoever pushed the image."""

from __future__ import annotations

import re

MAX_TEXT = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064]")


def clean_text(value: str, *, limit: int = MAX_TEXT) -> str:
    """No control or bidi characters, no newlines, at most `limit` characters."""
    text = _CONTROL.sub("", value).replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"

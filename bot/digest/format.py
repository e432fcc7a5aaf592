"""How the digest writes figures: one function per kind, used by every section (and so by both renderers)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from tools.analysis.clocks import as_utc
from tools.units import format_bytes


def size(count: int) -> str:
    """Bytes in binary units (`1.5 GiB`)."""
    return format_bytes(count)


def size_change(count: int) -> str:
    """A signed change in bytes (`+1.5 GiB`, `-20.0 MiB`, `±0 B`)."""
    return format_bytes(count, signed=True)


def rate(bytes_per_day: float, *, per: str = "day") -> str:
    """A signed growth rate (`+1.5 GiB/day`)."""
    return f"{size_change(round(bytes_per_day))}/{per}"


def count_change(count: int) -> str:
    """A signed change in a count (`+3`, `-1`, `±0`)."""
    return "±0" if count == 0 else f"{count:+d}"


def money(amount: float, currency: str) -> str:
    """An amount of money with two decimals (`$1.20`, `1.20 EUR`)."""
    sign = "-" if amount < 0 else ""
    value = f"{abs(amount):,.2f}"
    return f"{sign}${value}" if currency == "USD" else f"{sign}{value} {currency}"


def money_change(amount: float, currency: str) -> str:
    """A signed change of money (`+$0.10`)."""
    text = money(abs(amount), currency)
    return ("+" if amount >= 0 else "-") + text


def day(moment: datetime, tz: tzinfo) -> str:
    """The local calendar day (`2026-11-27`)."""
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d")


def when(moment: datetime, tz: tzinfo) -> str:
    """Local date and time with the zone's abbreviation (`2026-11-27 09:00 CET`)."""
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def tags_text(tags: tuple[str, ...] | list[str], *, limit: int = 3) -> str:
    """Up to `limit` tags, then how many more (`1.4.0, latest +2`)."""
    shown = ", ".join(tags[:limit]) or "(untagged)"
    return shown + (f" +{len(tags) - limit}" if len(tags) > limit else "")


def short_digest(digest: str) -> str:
    """`sha256:` and the first 12 hex digits: enough to tell digests apart in a table."""
    return digest[:19]

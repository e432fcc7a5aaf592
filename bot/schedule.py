"""Cron expressions (5 fields) evaluated in an IANA time zone: when the next digest or crawl is due.

Parsing and evaluation are cronsim's (the evaluator behind Healthchecks.io, which follows Debian's cron):
minute, hour, day of month, month (1-12 or jan-dec), day of week (0-7 or sun-sat; 0 and 7 are Sunday);
`*`, lists, ranges and steps; `L` and `1#2`-style nth weekdays; when both day fields are restricted a day
matches if either does. The macros @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly
are expanded here. Daylight saving: a local time skipped by a spring-forward gap runs once, right after
the gap (02:30 -> 03:00); a time repeated in autumn runs once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from bot.errors import CronError

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")  # as cronsim names them
_ALLOWED = (  # what each field takes, for the error message
    "0-59",
    "0-23",
    "1-31, and a day some month has",
    "1-12 or jan-dec",
    "0-7 or sun-sat; 0 and 7 are Sunday",
)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression in a time zone."""

    expression: str
    timezone: ZoneInfo
    fields: str  # the five fields cronsim evaluates (macros expanded)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (aware), as an aware time in the schedule's zone."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        try:
            return next(CronSim(self.fields, moment.astimezone(self.timezone)))
        except StopIteration:  # cronsim gives up after 50 years without a match
            raise CronError(f"{self.expression!r} never fires (no match in 50 years)") from None


def load_zone(name: str) -> ZoneInfo:
    """An IANA time zone by name, or CronError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from None


def parse_cron(expression: str, *, timezone: str = "UTC") -> CronSchedule:
    """Parse a 5-field cron expression (or a macro) for a time zone; CronError names the bad field."""
    fields = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = fields.split()
    if len(parts) != len(_FIELDS):  # cronsim would read six fields as seconds-first
        raise CronError(f"cron {expression!r}: expected 5 fields (minute hour day month weekday)")
    zone = load_zone(timezone)
    try:
        CronSim(fields, datetime.now(zone))
    except CronSimError as exc:
        raise CronError(f"cron {expression!r}: {_explain(exc, parts)}") from None
    schedule = CronSchedule(expression=expression, timezone=zone, fields=fields)
    schedule.next_after(datetime.now(zone))  # CronError now, not at the first digest, if it never fires
    return schedule


def _explain(error: CronSimError, parts: list[str]) -> str:
    """cronsim says "Bad minute"; add the field's text and what that field takes."""
    message = str(error)
    for name, text, allowed in zip(_FIELDS, parts, _ALLOWED, strict=True):
        if message.lower() == f"bad {name}":
            return f"{name} {text!r} is not valid ({allowed})"
    return message

"""Cron expressions (5 fields) evaluated in an IANA time zone: when the next digest is due.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec), day of week (0-7 or
sun-sat; 0 and 7 are Sunday). Each field is `*` or a comma list of `n`, `a-b`, `*/s`, `a-b/s` or `a/s`;
names are case-insensitive. As in Vixie cron, when both day fields are restricted a day matches if
either does. The macros @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly work too.
Daylight saving: a local time skipped by a spring-forward gap runs once, shifted by the gap (02:30 ->
03:30); a time repeated in autumn runs once, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import CronError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_DAYS = 366 * 8  # leap days on a given weekday recur within 28 years, but OR-ed days are found sooner


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


def _value(text: str, spec: _Field) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not text.isdigit():
        raise CronError(f"{spec.name}: {text!r} is not a number or a name")
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise CronError(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{spec.name}: empty list item in {text!r}")
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{spec.name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if body == "*":
            low, high = spec.low, spec.high
        elif "-" in body:
            first, _, last = body.partition("-")
            low, high = _value(first, spec), _value(last, spec)
            if low > high:
                raise CronError(f"{spec.name}: range {body!r} runs backwards")
        else:
            low = _value(body, spec)
            high = spec.high if slash else low
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed cron expression in a time zone."""

    expression: str
    timezone: ZoneInfo
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        """True if the schedule fires at some time of this local day."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def _local_times(self, start: date) -> Iterator[datetime]:
        for offset in range(_SEARCH_DAYS):
            day = start + timedelta(days=offset)
            if not self.matches_day(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    yield datetime(day.year, day.month, day.day, hour, minute)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (aware), as an aware time in the schedule's zone."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        after = moment.astimezone(UTC)
        local_start = after.astimezone(self.timezone).date() - timedelta(days=1)
        for naive in self._local_times(local_start):
            # fold=0: the first of a repeated hour; a time in a gap maps past it (zoneinfo's PEP 495 rules).
            fire = naive.replace(tzinfo=self.timezone).astimezone(UTC)
            if fire > after:
                return fire.astimezone(self.timezone)
        raise CronError(f"{self.expression!r} never fires (no matching day in {_SEARCH_DAYS // 366} years)")


def load_zone(name: str) -> ZoneInfo:
    """An IANA time zone by name, or CronError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from None


def parse_cron(expression: str, *, timezone: str = "UTC") -> CronSchedule:
    """Parse a 5-field cron expression (or a macro) for a time zone; CronError names the bad field."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"cron {expression!r}: expected 5 fields (minute hour day month weekday)")
    try:
        minutes, hours, days, months, weekdays = (
            _parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)
        )
    except CronError as exc:
        raise CronError(f"cron {expression!r}: {exc}") from None
    return CronSchedule(
        expression=expression,
        timezone=load_zone(timezone),
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )

"""The digest schedule (cronsim underneath): fields, ranges, steps, names, day rules, time zones, DST."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.errors import CronError
from bot.schedule import parse_cron


def fires(expression: str, start: datetime, count: int, *, tz: str = "UTC") -> list[str]:
    schedule = parse_cron(expression, timezone=tz)
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment.strftime("%a %Y-%m-%d %H:%M %z"))
    return out


FRIDAY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_default_weekdays_at_nine_in_berlin() -> None:
    assert fires("0 9 * * 1-5", FRIDAY, 3, tz="Europe/Berlin") == [
        "Mon 2026-11-30 09:00 +0100",
        "Tue 2026-12-01 09:00 +0100",
        "Wed 2026-12-02 09:00 +0100",
    ]


def test_next_is_strictly_after() -> None:
    nine = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    schedule = parse_cron("0 9 * * mon-fri", timezone="Europe/Berlin")
    assert schedule.next_after(nine).day == 1
    assert schedule.next_after(datetime(2026, 11, 30, 7, 59, tzinfo=UTC)) == nine


def test_steps_lists_ranges_and_names() -> None:
    assert fires("*/20 8-9 * * *", FRIDAY.replace(hour=7), 6) == [
        f"Fri 2026-11-27 {h}:{m} +0000" for h in ("08", "09") for m in ("00", "20", "40")
    ]
    assert fires("15,45 6 1 jan,JUL *", FRIDAY, 3) == [
        "Fri 2027-01-01 06:15 +0000",
        "Fri 2027-01-01 06:45 +0000",
        "Thu 2027-07-01 06:15 +0000",
    ]
    assert (
        fires("0 12 * * sun", FRIDAY, 1) == fires("0 12 * * 7", FRIDAY, 1) == ["Sun 2026-11-29 12:00 +0000"]
    )
    assert fires("5/30 0 * * *", FRIDAY, 2) == ["Sat 2026-11-28 00:05 +0000", "Sat 2026-11-28 00:35 +0000"]
    assert fires("@daily", FRIDAY, 1) == ["Sat 2026-11-28 00:00 +0000"]


def test_both_day_fields_restricted_means_either() -> None:
    # The 1st of the month OR any Monday (Vixie cron).
    assert fires("0 0 1 * mon", FRIDAY, 3) == [
        "Mon 2026-11-30 00:00 +0000",
        "Tue 2026-12-01 00:00 +0000",
        "Mon 2026-12-07 00:00 +0000",
    ]
    assert fires("0 0 29 2 *", FRIDAY, 1) == ["Tue 2028-02-29 00:00 +0000"]


def test_daylight_saving_gap_and_repeat() -> None:
    spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert fires("30 2 * * *", spring, 2, tz="Europe/Berlin") == [
        "Sun 2026-03-29 03:00 +0200",  # 02:30 does not exist that night: once, right after the gap
        "Mon 2026-03-30 02:30 +0200",
    ]
    autumn = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert fires("30 2 * * *", autumn, 2, tz="Europe/Berlin") == [
        "Sun 2026-10-25 02:30 +0200",  # 02:30 happens twice: only the first time
        "Mon 2026-10-26 02:30 +0100",
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("0 9 * * * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("60 9 * * *", "minute '60' is not valid (0-59)"),
        ("0 24 * * *", "hour '24' is not valid (0-23)"),
        ("0 9 * * 1-8", "day-of-week '1-8' is not valid (0-7 or sun-sat"),
        ("0 9 * foo *", "month 'foo' is not valid (1-12 or jan-dec)"),
        ("0 9 5-1 * *", "day-of-month '5-1' is not valid"),
        ("*/0 9 * * *", "minute '*/0' is not valid"),
        ("0 9 1,,2 * *", "day-of-month '1,,2' is not valid"),
        ("0 0 31 2 *", "day-of-month '31' is not valid (1-31, and a day some month has)"),
    ],
)
def test_bad_expressions_say_which_field(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=re.escape(message)):
        parse_cron(expression)


def test_unknown_time_zone() -> None:
    with pytest.raises(CronError, match="unknown time zone 'Mars/Olympus'"):
        parse_cron("0 9 * * *", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        parse_cron("0 9 * * *").next_after(datetime(2026, 1, 1))


def test_last_day_and_nth_weekday_work_too() -> None:
    assert fires("0 9 L * *", FRIDAY, 1) == ["Mon 2026-11-30 09:00 +0000"]
    assert fires("0 9 * * mon#2", FRIDAY, 1) == ["Mon 2026-12-14 09:00 +0000"]
    assert fires("@weekly", FRIDAY, 1) == fires("0 0 * * sun", FRIDAY, 1)


def test_a_schedule_that_never_fires_is_refused() -> None:
    # The 31st of months that have 30 days: refused when the settings load, not at the first digest.
    with pytest.raises(CronError, match="day-of-month '31' is not valid"):
        parse_cron("0 0 31 4,6,9,11 *")

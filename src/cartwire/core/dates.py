"""Dates in rules: patterns such as `MM/DD/YYYY`, ISO 8601, adding days, a store's time zone.

A pattern is made of the parts `YYYY`, `MM`, `DD`, `HH`, `mm` and `ss`; every other character
that is not a letter stands for itself. Patterns are checked when rules are compiled.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cartwire.core.timeutil import parse_rfc3339, zone

ISO_DATE = "YYYY-MM-DD"
_PARTS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_TOKEN = re.compile(r"YYYY|MM|DD|HH|mm|ss|[A-Za-z]+|[^A-Za-z]")


def strftime_pattern(pattern: str) -> str:
    """`MM/DD/YYYY` -> `%m/%d/%Y`; a ValueError names an unknown part."""
    out = []
    for token in _TOKEN.findall(pattern):
        if token in _PARTS:
            out.append(_PARTS[token])
        elif token[0].isalpha():
            raise ValueError(f"`{token}` is not part of a date pattern (use YYYY, MM, DD, HH, mm and ss)")
        else:
            out.append(token.replace("%", "%%"))
    if not out:
        raise ValueError("a date pattern cannot be empty")
    return "".join(out)


def parse_date(text: str, pattern: str = ISO_DATE) -> date:
    """`parse_date("11/27/2026", "MM/DD/YYYY")` is 2026-11-27."""
    try:
        return datetime.strptime(text.strip(), strftime_pattern(pattern)).date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date written {pattern}") from None


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time with an offset (`2026-11-27T06:00:00-06:00`), in UTC."""
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time in ISO 8601 with an offset, such as 2026-11-27T06:00:00Z") from None


def format_date(value: date | datetime, pattern: str, zone_name: str) -> str:
    """A date as it is, or a time as its wall-clock reading in `zone_name`."""
    if isinstance(value, datetime):
        value = value.astimezone(zone(zone_name))
    return value.strftime(strftime_pattern(pattern))


def local_date(value: datetime, zone_name: str) -> date:
    """The calendar date of the instant `value` in `zone_name` (a late evening in Chicago is
    still that day there, though it is the next day in UTC).
    """
    return value.astimezone(zone(zone_name)).date()


def add_days(value: date | datetime, days: Decimal | int) -> date | datetime:
    """`value` moved by a whole number of days (negative goes back)."""
    if Decimal(days) != int(days):
        raise ValueError(f"add_days needs a whole number of days, not {days}")
    return value + timedelta(days=int(days))


def days_between(start: date | datetime, end: date | datetime) -> int:
    """Whole days from `start` to `end` (negative when `end` is earlier)."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return (end.astimezone(UTC) - start.astimezone(UTC)).days
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise TypeError("days_between needs two dates or two times")
    return (end - start).days

"""3dcart's date strings: several formats, store-local time, usually without an offset.

Recorded v1 responses use `yyyy-MM-ddTHH:mm:ss`; the current help pages show `MM/dd/yyyy HH:mm`;
an older help page shows ISO with a fraction and an offset; shipped dates are free text such as
`M/d/yyyy h:mm:ss PM` or `MM/dd/yyyy`. All are accepted. A time without an offset is wall-clock
time in the store's zone; in a repeated hour (end of daylight saving) the first occurrence is taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from cartwire.core.timeutil import local_to_utc, zone

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_US = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AP]M))?)?$",
    re.IGNORECASE,
)

EXPECTED = "yyyy-MM-ddTHH:mm:ss[.fff][±hh:mm], MM/dd/yyyy HH:mm[:ss], M/d/yyyy h:mm:ss AM/PM or MM/dd/yyyy"


def parse_local(text: str) -> datetime | None:
    """Parse a 3dcart date; naive (store-local) unless the text carries an offset; "" is None."""
    value = text.strip()
    if not value:
        return None
    try:
        if match := _ISO.match(value):
            return _from_iso(match)
        if match := _US.match(value):
            return _from_us(match)
    except ValueError:  # a well-formed but impossible date such as 02/30/2026
        pass
    raise ValueError(f"{text!r} is not a 3dcart date (expected {EXPECTED})")


def parse_store_date(text: str, zone_name: str) -> datetime | None:
    """Parse a 3dcart date and return it in UTC, reading offset-less times in `zone_name`."""
    parsed = parse_local(text)
    return None if parsed is None else local_to_utc(parsed, zone_name)


def _from_iso(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    if offset is None:
        return parsed
    if offset.upper() == "Z":
        return parsed.replace(tzinfo=UTC)
    return datetime.fromisoformat(f"{parsed.isoformat()}{offset[:3]}:{offset[-2:]}")


def _from_us(match: re.Match[str]) -> datetime:
    month, day, year, hour, minute, second, meridiem = match.groups()
    hour_value = int(hour or 0)
    if meridiem:
        if not 1 <= hour_value <= 12:
            raise ValueError("hour out of range for a 12-hour clock")
        hour_value = hour_value % 12 + (12 if meridiem.upper() == "PM" else 0)
    return datetime(int(year), int(month), int(day), hour_value, int(minute or 0), int(second or 0))


def _ampm(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'PM' if moment.hour >= 12 else 'AM'}"


# The formats 3dcart is known to send, by the name the emulator's `date_format` option uses.
FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "iso": lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S"),
    "iso_offset": lambda moment: moment.isoformat(timespec="microseconds"),
    "us": lambda moment: moment.strftime("%m/%d/%Y %H:%M"),
    "us_seconds": lambda moment: moment.strftime("%m/%d/%Y %H:%M:%S"),
    "us_ampm": _ampm,
    "date": lambda moment: moment.strftime("%m/%d/%Y"),
}


def format_store_date(moment: datetime, style: str, zone_name: str) -> str:
    """Write `moment` as 3dcart would in `style`; aware values are first moved into the store's zone."""
    try:
        formatter = FORMATTERS[style]
    except KeyError:
        raise ValueError(f"unknown 3dcart date format {style!r} (known: {', '.join(FORMATTERS)})") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone(zone_name))
        if style != "iso_offset":
            moment = moment.replace(tzinfo=None)
    elif style == "iso_offset":
        moment = moment.replace(tzinfo=zone(zone_name))
    return formatter(moment)

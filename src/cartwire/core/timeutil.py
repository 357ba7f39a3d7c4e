"""Time is timezone-aware UTC inside; connectors convert at their edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, with a clear error for a misspelt one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as America/Chicago)") from None


def wall_clock_start(start: datetime, until: datetime, zone_name: str) -> datetime:
    """`start` in `zone_name`'s wall time, moved back by as much as the clocks were turned back between
    `start` and `until`: a service filtering on local times without an offset ("changed since 01:54")
    must also return what changed at 01:10 once the clocks went from 01:59 back to 01:00. (From the
    offsets at the two ends: a window spanning a turn forward and a turn back nets to nothing, and
    starts far enough before the repeated hour.)"""
    local = zone(zone_name)
    before, after = start.astimezone(local).utcoffset(), until.astimezone(local).utcoffset()
    turned_back = before - after if before is not None and after is not None else timedelta(0)
    return (start - max(turned_back, timedelta(0))).astimezone(local)


def shown_twice(moment: datetime, zone_name: str) -> bool:
    """Whether `moment`'s wall time in `zone_name` is one the clocks show twice (the hour repeated when
    they are turned back): a wall time read there without an offset may be either of two moments."""
    local = moment.astimezone(zone(zone_name))
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def local_to_utc(naive: datetime, zone_name: str) -> datetime:
    """Read a wall-clock time in `zone_name` and return it in UTC."""
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=zone(zone_name)).astimezone(UTC)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any fraction length, `Z` or an offset) to UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, tail = value.partition(".")
    if sep:  # Python wants at most 6 fraction digits; Sezzle sends up to 9.
        digits = len(tail) - len(tail.lstrip("0123456789"))
        tail = tail[:digits][:6].ljust(6, "0") + tail[digits:]
        value = f"{head}.{tail}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without an offset: {text!r}")
    return parsed.astimezone(UTC)

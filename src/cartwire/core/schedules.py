"""Time triggers: `on schedule "daily 06:00 America/Chicago"`, and when such a rule is due.

Three forms, the time zone being optional (the store's time zone when left out):

- `daily HH:MM [zone]`: every day at that wall-clock time;
- `weekly <day> HH:MM [zone]`: every week, `day` being `monday` … `sunday`;
- `every N minutes`: at each multiple of N minutes since midnight UTC (N from 1 to 1440).

A wall-clock time that a daylight-saving change skips runs as late as the jump (02:30 on the
day the clocks go from 02:00 to 03:00 runs at 03:30); one that happens twice runs once, the first
time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from pydantic import BaseModel

from cartwire.core.events import Event
from cartwire.core.timeutil import zone

SCHEDULE_SOURCE = "schedule"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAILY = re.compile(r"daily (\d{1,2}):(\d{2})(?: (\S+))?")
_WEEKLY = re.compile(r"weekly ([a-z]+) (\d{1,2}):(\d{2})(?: (\S+))?")
_EVERY = re.compile(r"every (\d+) minutes?")


class Tick(BaseModel):
    """The subject of a schedule's event, `schedule` in rules: its canonical text (`name`, such as
    "daily 06:00 America/Chicago") and the instant it was due (`due_at`, UTC).
    """

    name: str
    due_at: datetime


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; `text` is its canonical form, with the zone written out."""

    text: str
    at: time | None = None
    weekday: int | None = None
    minutes: int | None = None
    zone_name: str = "UTC"

    @property
    def event_type(self) -> str:
        return f"{SCHEDULE_SOURCE}:{self.text}"

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Every instant this schedule is due with `after < t <= until`, in UTC."""
        if self.minutes is not None:
            step = timedelta(minutes=self.minutes)
            midnight = after.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            first = midnight + step * ((after - midnight) // step + 1)
            count = max(0, (until - first) // step + 1)
            return [first + step * n for n in range(count)]
        assert self.at is not None
        local = zone(self.zone_name)
        day = after.astimezone(local).date() - timedelta(days=1)
        last = until.astimezone(local).date() + timedelta(days=1)
        found = []
        while day <= last:
            if self.weekday is None or day.weekday() == self.weekday:
                instant = datetime.combine(day, self.at, tzinfo=local).astimezone(UTC)
                if after < instant <= until:
                    found.append(instant)
            day += timedelta(days=1)
        return found

    def event(self, due_at: datetime) -> Event:
        """The synthetic event a due schedule produces; the same instant gives the same keys."""
        stamp = due_at.astimezone(UTC).isoformat()
        return Event(
            source=SCHEDULE_SOURCE,
            type=self.event_type,
            subject=Tick(name=self.text, due_at=due_at.astimezone(UTC)),
            entity=f"{SCHEDULE_SOURCE}:{self.text}",
            dedupe_key=f"{self.event_type}@{stamp}",
            occurred_at=due_at.astimezone(UTC),
        )


def parse_schedule(text: str, default_zone: str = "UTC") -> Schedule:
    """Read a schedule; a ValueError says what is wrong in the rule language's words."""
    spec = " ".join(text.split())
    if match := _EVERY.fullmatch(spec):
        minutes = int(match.group(1))
        if not 1 <= minutes <= 1440:
            raise ValueError("`every N minutes` needs N from 1 to 1440")
        return Schedule(f"every {minutes} minutes", minutes=minutes)
    weekday = None
    if match := _WEEKLY.fullmatch(spec):
        day, hour, minute, zone_name = match.groups()
        if day not in WEEKDAYS:
            raise ValueError(f"`{day}` is not a day of the week (write monday … sunday)")
        weekday, kind = WEEKDAYS.index(day), f"weekly {day}"
    elif match := _DAILY.fullmatch(spec):
        hour, minute, zone_name = match.groups()
        kind = "daily"
    else:
        raise ValueError('a schedule is "daily HH:MM [zone]", "weekly <day> HH:MM [zone]" or "every N minutes"')
    if int(hour) > 23 or int(minute) > 59:
        raise ValueError(f"{hour}:{minute} is not a time of day (00:00 to 23:59)")
    zone_name = zone_name or default_zone
    zone(zone_name)
    at = time(int(hour), int(minute))
    return Schedule(f"{kind} {at:%H:%M} {zone_name}", at=at, weekday=weekday, zone_name=zone_name)

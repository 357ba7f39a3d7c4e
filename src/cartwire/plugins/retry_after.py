"""`Retry-After`, as every connector reads it: a service that throttles says how long to wait."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

# The longest wait a `Retry-After` (or any retry delay) is taken for: a day. A service that names a
# longer one (a date years ahead, 99999999999999 seconds) is still asked again, a day later, and a
# wait past what a date can hold must not leave an action in flight with nobody told.
LONGEST_WAIT = 86_400.0


def bounded_wait(seconds: float) -> float:
    """`seconds` held between 0 and `LONGEST_WAIT` (anything that is not a number: no wait)."""
    if not seconds >= 0:  # negative or NaN
        return 0.0
    return min(seconds, LONGEST_WAIT)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait (delta-seconds or an HTTP date, at most `LONGEST_WAIT`); None
    when absent or unreadable.

    Pass the result as `TransientError(..., retry_after=...)`: the runtime waits at least that long.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return bounded_wait(float(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return bounded_wait((when - (now or datetime.now(UTC))).total_seconds())

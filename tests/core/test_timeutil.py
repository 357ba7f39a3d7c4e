from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwire.core.timeutil import local_to_utc, parse_rfc3339, wall_clock_start


def test_store_local_time_becomes_utc_with_daylight_saving():
    assert local_to_utc(datetime(2026, 11, 27, 10, 32, 13), "America/New_York") == datetime(
        2026, 11, 27, 15, 32, 13, tzinfo=UTC
    )
    assert local_to_utc(datetime(2026, 7, 1, 10, 0), "America/New_York") == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


def test_unknown_zone_is_named():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        local_to_utc(datetime(2026, 1, 1), "Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T16:32:09.123456Z", datetime(2026, 11, 27, 16, 32, 9, 123456, tzinfo=UTC)),
        ("2026-12-04T16:32:08Z", datetime(2026, 12, 4, 16, 32, 8, tzinfo=UTC)),
        ("2026-11-27T16:32:09.123456789Z", datetime(2026, 11, 27, 16, 32, 9, 123456, tzinfo=UTC)),
        ("2026-11-27T11:32:09-05:00", datetime(2026, 11, 27, 16, 32, 9, tzinfo=UTC)),
    ],
)
def test_rfc3339_variants(text, expected):
    assert parse_rfc3339(text) == expected


def test_rfc3339_without_offset_is_an_error():
    with pytest.raises(ValueError, match="without an offset"):
        parse_rfc3339("2026-11-27T16:32:09")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_rfc3339_round_trip(moment):
    assert parse_rfc3339(moment.isoformat().replace("+00:00", "Z")) == moment


@pytest.mark.parametrize(
    ("start", "until", "wall"),
    [
        ("2025-11-02T05:54:00+00:00", "2025-11-02T06:20:00+00:00", "2025-11-02T00:54:00-04:00"),  # turned back
        ("2025-11-02T05:54:00+00:00", "2025-11-02T05:58:00+00:00", "2025-11-02T01:54:00-04:00"),  # not yet
        ("2025-03-09T06:54:00+00:00", "2025-03-09T07:20:00+00:00", "2025-03-09T01:54:00-05:00"),  # turned forward
        ("2025-07-01T12:00:00+00:00", "2025-07-01T12:05:00+00:00", "2025-07-01T08:00:00-04:00"),
    ],
)
def test_a_wall_clock_start_reaches_back_by_the_hour_the_clocks_repeated(start, until, wall):
    moved = wall_clock_start(datetime.fromisoformat(start), datetime.fromisoformat(until), "America/New_York")
    assert moved.isoformat() == wall

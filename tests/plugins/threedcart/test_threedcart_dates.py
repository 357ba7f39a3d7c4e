"""3dcart date strings: every known format, store-local time, round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cartwire.core.timeutil import zone
from cartwire.plugins.threedcart.dates import FORMATTERS, format_store_date, parse_local, parse_store_date

NEW_YORK = "America/New_York"


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-27T10:32:13", datetime(2026, 11, 27, 15, 32, 13, tzinfo=UTC)),
        ("2016-01-26T15:54:24.888551-05:00", datetime(2016, 1, 26, 20, 54, 24, 888551, tzinfo=UTC)),
        ("2016-01-26T15:54:24.8885517+01:00", datetime(2016, 1, 26, 14, 54, 24, 888551, tzinfo=UTC)),
        ("2026-07-01T12:00:00Z", datetime(2026, 7, 1, 12, tzinfo=UTC)),
        ("11/28/2026 09:15", datetime(2026, 11, 28, 14, 15, tzinfo=UTC)),
        ("07/04/2026 09:15:30", datetime(2026, 7, 4, 13, 15, 30, tzinfo=UTC)),  # summer time: UTC-4
        ("7/4/2026 9:15:30 PM", datetime(2026, 7, 5, 1, 15, 30, tzinfo=UTC)),
        ("7/4/2026 12:05:00 AM", datetime(2026, 7, 4, 4, 5, tzinfo=UTC)),
        ("7/4/2026 12:05:00 pm", datetime(2026, 7, 4, 16, 5, tzinfo=UTC)),
        ("11/28/2026", datetime(2026, 11, 28, 5, tzinfo=UTC)),
        ("  11/28/2026 09:15 ", datetime(2026, 11, 28, 14, 15, tzinfo=UTC)),
    ],
)
def test_known_formats(text: str, utc: datetime) -> None:
    assert parse_store_date(text, NEW_YORK) == utc


def test_empty_is_none() -> None:
    assert parse_store_date("", NEW_YORK) is None
    assert parse_store_date("   ", NEW_YORK) is None


@pytest.mark.parametrize(
    "text",
    [
        "27/11/2026 10:32",
        "02/30/2026",
        "2026-13-01T00:00:00",
        "13:00:00 PM",
        "7/4/2026 13:05:00 PM",
        "7/4/2026 0:05:00 AM",
        "yesterday",
        "2026-11-27",
        "1700000000",
    ],
)
def test_bad_dates_are_named_in_the_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not a 3dcart date") as error:
        parse_store_date(text, NEW_YORK)
    assert repr(text) in str(error.value)


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'America/Springfield'"):
        parse_store_date("11/28/2026", "America/Springfield")


# Store-local wall times between 1970 and 2100; the formats have no microseconds except iso_offset.
local_times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
zones = st.sampled_from([NEW_YORK, "America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "UTC"])
PRECISION = {
    "iso": timedelta(seconds=1),
    "us": timedelta(minutes=1),
    "us_seconds": timedelta(seconds=1),
    "us_ampm": timedelta(seconds=1),
    "date": timedelta(days=1),
    "iso_offset": timedelta(microseconds=1),
}


def _truncate(moment: datetime, step: timedelta) -> datetime:
    return moment - (moment - datetime(1970, 1, 1)) % step


def _exists_once(local: datetime, zone_name: str) -> bool:
    """False for wall times skipped (spring forward) or repeated (fall back) in `zone_name`."""
    tz = zone(zone_name)
    first, second = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return first.utcoffset() == second.utcoffset() and round_trip == local


def test_formatters_cover_every_precision() -> None:
    assert set(PRECISION) == set(FORMATTERS)


@given(local=local_times, zone_name=zones, style=st.sampled_from(sorted(FORMATTERS)))
def test_format_then_parse_gives_the_same_instant(local: datetime, zone_name: str, style: str) -> None:
    expected_local = _truncate(local, PRECISION[style])
    assume(_exists_once(expected_local, zone_name))
    text = format_store_date(local, style, zone_name)
    parsed = parse_store_date(text, zone_name)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == expected_local.replace(tzinfo=zone(zone_name)).astimezone(UTC)
    assert parsed.astimezone(zone(zone_name)).replace(tzinfo=None) == expected_local


@given(
    instant=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    zone_name=zones,
)
def test_an_offset_keeps_even_a_repeated_hour_exact(instant: datetime, zone_name: str) -> None:
    text = format_store_date(instant, "iso_offset", zone_name)
    assert parse_store_date(text, zone_name) == instant
    assert parse_local(text) == instant


def test_the_first_of_two_repeated_wall_times_is_taken() -> None:
    # 2026-11-01 01:30 happens twice in New York; without an offset 3dcart's value is ambiguous.
    assert parse_store_date("11/01/2026 01:30", NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown 3dcart date format 'rfc'"):
        format_store_date(datetime(2026, 1, 1), "rfc", NEW_YORK)

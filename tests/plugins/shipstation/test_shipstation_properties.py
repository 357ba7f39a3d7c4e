"""Invariants: ShipStation's timestamps round-trip between the emulator's writer and the connector's reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cartwire.plugins.shipstation.orders import wire_timestamp
from cartwire.plugins.shipstation.wire import read_timestamp

ZONES = st.sampled_from(["America/Los_Angeles", "America/New_York", "UTC", "Asia/Kolkata", "Australia/Lord_Howe"])
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@given(MOMENTS, ZONES)
def test_a_written_timestamp_reads_back_as_the_same_instant(moment: datetime, zone: str) -> None:
    text = wire_timestamp(moment, zone)
    assert len(text.rpartition(".")[2]) == 7  # seven fraction digits, no offset
    back = read_timestamp(text, zone)
    # In the hour repeated when daylight saving ends the wall clock is ambiguous: the first is taken.
    assert back == moment or back == moment - timedelta(hours=1) or back == moment - timedelta(minutes=30)


@given(MOMENTS, st.sampled_from(["Z", "+00:00", "-07:00", "+05:30"]))
def test_an_explicit_offset_wins_over_the_zone(moment: datetime, offset: str) -> None:
    local = moment.astimezone(datetime.strptime(offset.replace("Z", "+00:00"), "%z").tzinfo)
    text = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0" + offset
    assert read_timestamp(text, "America/Los_Angeles") == moment

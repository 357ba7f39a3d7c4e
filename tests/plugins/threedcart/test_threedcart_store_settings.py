"""The store's time zone and currency, read from GET /StoreSettings and used to read orders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, sample_order

from cartwire.core.money import Money
from cartwire.plugins.threedcart import ThreeDCart, jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.plugins.threedcart.storesettings import iana_zone
from cartwire.testing.server import AppSwitch, ServedApp


@pytest.fixture
def chicago(store_server: ServedApp, loopback: tuple[AppSwitch, ServedApp]) -> Iterator[ThreeDCartEmulator]:
    """A store in Chicago selling in CAD, served where `make_connector` points (in place of `emulator`)."""
    switch, _ = loopback
    with ThreeDCartEmulator(SECURE_URL, PRIVATE_KEY, TOKEN, time_zone="America/Chicago", currency="CAD") as store:
        switch.app = store.app
        yield store


def placed_at(connector: ThreeDCart) -> tuple[datetime, Money]:
    order = sample_order("order-new.json")  # OrderDate/LastUpdate 2026-11-27T10:32:13, no offset
    [event] = connector.parse_payload(jsonwire.dumps([order]))
    return event.occurred_at, event.subject.total


def test_dates_and_amounts_are_read_in_the_stores_own_zone_and_currency(
    make_connector: Callable[..., ThreeDCart], chicago: ThreeDCartEmulator
) -> None:
    connector = make_connector()
    assert placed_at(connector)[0] == datetime(2026, 11, 27, 15, 32, 13, tzinfo=UTC)  # configured New York
    connector.prepare()
    moment, total = placed_at(connector)
    assert moment == datetime(2026, 11, 27, 16, 32, 13, tzinfo=UTC)  # Chicago is an hour behind
    assert total.currency == "CAD"


def test_configured_values_override_the_store(
    make_connector: Callable[..., ThreeDCart], chicago: ThreeDCartEmulator
) -> None:
    connector = make_connector(time_zone="America/New_York")
    connector.prepare()
    moment, total = placed_at(connector)
    assert moment == datetime(2026, 11, 27, 15, 32, 13, tzinfo=UTC)
    assert total.currency == "CAD"  # not configured: the store's


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("America/Chicago", "America/Chicago"),
        ("Central Standard Time", "America/Chicago"),
        ("(GMT-05:00) Eastern Time (US & Canada)", "America/New_York"),
        ("(UTC-07:00) Arizona", "America/Phoenix"),
        ("US Mountain Standard Time", "America/Phoenix"),
        ("GMT-5", None),
        ("", None),
    ],
)
def test_store_time_zone_forms(text: str, zone: str | None) -> None:
    assert iana_zone(text) == zone


def test_an_unreadable_store_zone_keeps_the_configured_one(
    make_connector: Callable[..., ThreeDCart], chicago: ThreeDCartEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    chicago.store_time_zone = "GMT-6"
    connector = make_connector()
    assert connector.refresh_locale().time_zone == "America/New_York"
    assert "StoreTimeZone 'GMT-6' is not a zone Cartwire can read" in caplog.text

"""Fixtures: a ShipStation emulator served on loopback and connectors pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from shipstation_support import HOOK_SECRET, KEY, SECRET

from cartwire.plugins.shipstation import ShipStation, ShipStationSettings
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.testing.server import AppSwitch, ServedApp
from closing import closed_after


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[ShipStationEmulator]:
    """A fresh emulator; parametrize it indirectly with a dict of constructor options."""
    with ShipStationEmulator(KEY, SECRET, retry_delays=(0.01,), **getattr(request, "param", {})) as emu:
        yield emu


@pytest.fixture
def server(emulator: ShipStationEmulator, loopback: tuple[AppSwitch, ServedApp]) -> Iterator[ServedApp]:
    switch, running = loopback
    switch.app = emulator.app
    emulator.base_url = running.base_url
    yield running
    switch.app = None


@pytest.fixture
def make_connector(server: ServedApp) -> Iterator[Callable[..., ShipStation]]:
    def make(**overrides: Any) -> ShipStation:
        settings: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": SecretStr(KEY),
            "api_secret": SecretStr(SECRET),
            "webhook_secret": SecretStr(HOOK_SECRET),
            "timeout": 5.0,
        }
        connector = ShipStation(ShipStationSettings(**(settings | overrides)))
        return connector

    with closed_after(make) as factory:
        yield factory


@pytest.fixture
def connector(make_connector: Callable[..., ShipStation]) -> ShipStation:
    return make_connector()

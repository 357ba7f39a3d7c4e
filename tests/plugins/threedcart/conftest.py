"""Fixtures for the 3dcart connector tests: the recorded samples, the emulator served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, WEBHOOK_SECRET, sample_order

from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import AppSwitch, ServedApp
from closing import closed_after


@pytest.fixture
def emulator() -> Iterator[ThreeDCartEmulator]:
    with ThreeDCartEmulator(SECURE_URL, PRIVATE_KEY, TOKEN) as store:
        store.add_order(sample_order("order-new.json"))
        store.add_order(sample_order("order-status-cancelled.json"))
        yield store


@pytest.fixture
def store_server(emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]) -> Iterator[ServedApp]:
    """The emulator of this test, served on loopback."""
    switch, server = loopback
    switch.app = emulator.app
    yield server
    switch.app = None


@pytest.fixture
def make_connector(store_server: ServedApp) -> Iterator[Callable[..., ThreeDCart]]:
    """Build connectors pointed at the served emulator; every one is closed after the test."""

    def make(**overrides: Any) -> ThreeDCart:
        settings: dict[str, Any] = {
            "base_url": store_server.base_url,
            "secure_url": f"https://{SECURE_URL}/",
            "private_key": SecretStr(PRIVATE_KEY),
            "token": SecretStr(TOKEN),
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            "timeout": 5.0,
        }
        connector = ThreeDCart(ThreeDCartSettings(**(settings | overrides)))
        return connector

    with closed_after(make) as factory:
        yield factory


@pytest.fixture
def connector(make_connector: Callable[..., ThreeDCart]) -> ThreeDCart:
    return make_connector()


@pytest.fixture
def api_client(store_server: ServedApp) -> Iterator[ThreeDCartClient]:
    """A bare client of the served emulator, for reading the wire directly."""
    client = ThreeDCartClient(
        secure_url=SECURE_URL,
        private_key=SecretStr(PRIVATE_KEY),
        token=SecretStr(TOKEN),
        make_client=lambda headers: httpx.Client(base_url=f"{store_server.base_url}/3dCartWebAPI/v1", headers=headers),
    )
    yield client
    client.close()

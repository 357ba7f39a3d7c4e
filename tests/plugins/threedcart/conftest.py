"""Fixtures for the 3dcart connector tests: the recorded samples, the emulator served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, WEBHOOK_SECRET, sample_order

from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import ServedApp, served


@pytest.fixture
def emulator() -> Iterator[ThreeDCartEmulator]:
    with ThreeDCartEmulator(SECURE_URL, PRIVATE_KEY, TOKEN) as store:
        store.add_order(sample_order("order-new.json"))
        store.add_order(sample_order("order-status-cancelled.json"))
        yield store


class _CurrentApp:
    """An ASGI app that forwards to whichever emulator the running test made.

    One loopback server for the whole session: starting and stopping uvicorn per test would
    cost more than all the tests themselves.
    """

    target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def _session_server() -> Iterator[tuple[_CurrentApp, ServedApp]]:
    current = _CurrentApp()
    with served(current) as server:
        yield current, server


@pytest.fixture
def store_server(emulator: ThreeDCartEmulator, _session_server: tuple[_CurrentApp, ServedApp]) -> Iterator[ServedApp]:
    """The emulator of this test, served on loopback."""
    current, server = _session_server
    current.target = emulator.app
    yield server
    current.target = None


@pytest.fixture
def make_connector(store_server: ServedApp) -> Iterator[Callable[..., ThreeDCart]]:
    """Build connectors pointed at the served emulator; every one is closed after the test."""
    made: list[ThreeDCart] = []

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
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def connector(make_connector: Callable[..., ThreeDCart]) -> ThreeDCart:
    return make_connector()

"""Fixtures: an emulator served on loopback, and a connector pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr
from sezzle_support import PRIVATE_KEY, PUBLIC_KEY, TLS

from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.testing.server import AppSwitch, ServedApp
from closing import closed_after


@pytest.fixture
def emulator_options() -> dict[str, object]:
    """Constructor options for every emulator of a module; override the fixture in the module."""
    return {}


@pytest.fixture
def emulator(request: pytest.FixtureRequest, emulator_options: dict[str, object]) -> Iterator[SezzleEmulator]:
    """A fresh emulator; parametrize it indirectly with a dict of constructor options."""
    options = {"retry_delays": (0.01, 0.01), **emulator_options, **getattr(request, "param", {})}
    emu = SezzleEmulator(**options)
    yield emu
    emu.close()


@pytest.fixture
def server(emulator: SezzleEmulator, loopback: tuple[AppSwitch, ServedApp]) -> Iterator[ServedApp]:
    """The emulator over real HTTP on 127.0.0.1."""
    switch, running = loopback
    switch.app = emulator.app
    yield running
    switch.app = None


ConnectorFactory = Callable[..., Sezzle]


@pytest.fixture
def connect(server: ServedApp, emulator: SezzleEmulator) -> Iterator[ConnectorFactory]:
    """`connect(currency="JPY", timeout=0.2)`: a Sezzle connector on the emulator, closed afterwards."""

    def make(*, clock: Callable | None = None, **overrides: object) -> Sezzle:
        settings = {"base_url": server.base_url, "public_key": PUBLIC_KEY, "private_key": SecretStr(PRIVATE_KEY)}
        transport = httpx.HTTPTransport(verify=TLS)
        connector = Sezzle(
            SezzleSettings(**{**settings, **overrides}), transport=transport, clock=clock or emulator.now
        )
        return connector

    with closed_after(make) as factory:
        yield factory

"""Fixtures: a QuickBooks emulator on loopback, a connected company's token file, a connector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qbo_support import save_tokens, settings_for

from cartwire.plugins.quickbooks import QuickBooks
from cartwire.plugins.quickbooks.emulator import QuickBooksEmulator
from cartwire.testing.server import AppSwitch, ServedApp
from closing import closed_after

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> QuickBooksEmulator:
    """A fresh emulator on a frozen clock (moved by `advance`); parametrize it indirectly with options."""
    return QuickBooksEmulator(**{"clock": lambda: NOW, **getattr(request, "param", {})})


@pytest.fixture
def server(emulator: QuickBooksEmulator, loopback: tuple[AppSwitch, ServedApp]) -> Iterator[ServedApp]:
    switch, running = loopback
    switch.app = emulator.app
    yield running
    switch.app = None


@pytest.fixture
def token_path(tmp_path: Path, emulator: QuickBooksEmulator) -> Path:
    """A token file as `cartwire connect quickbooks` leaves it."""
    path = tmp_path / "quickbooks-tokens.json"
    save_tokens(path, emulator.issue_tokens(), emulator.realm_id, emulator.now())
    return path


ConnectorFactory = Callable[..., QuickBooks]


@pytest.fixture
def connect(server: ServedApp, emulator: QuickBooksEmulator, token_path: Path) -> Iterator[ConnectorFactory]:
    """`connect(deposit_account="35")`: a connector on the emulator's company, closed afterwards."""

    def make(**overrides: object) -> QuickBooks:
        connector = QuickBooks(settings_for(emulator, server, token_path, **overrides), clock=emulator.now)
        return connector

    with closed_after(make) as factory:
        yield factory

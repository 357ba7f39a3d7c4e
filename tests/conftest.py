"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartwire.testing.server import AppSwitch, ServedApp, served


@pytest.fixture(scope="session")
def loopback() -> Iterator[tuple[AppSwitch, ServedApp]]:
    """One server on 127.0.0.1 for the whole session; a test plugs its app into the switch."""
    switch = AppSwitch()
    with served(switch) as running:
        yield switch, running


pytest_plugins = ["pytester"]

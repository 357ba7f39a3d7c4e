"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cartwire.testing.server import AppSwitch, ServedApp, served
from postgres import postgres_schema
from rawserver import Handler, RawServer


@pytest.fixture(scope="session")
def loopback() -> Iterator[tuple[AppSwitch, ServedApp]]:
    """One server on 127.0.0.1 for the whole session; a test plugs its app into the switch."""
    switch = AppSwitch()
    with served(switch) as running:
        yield switch, running


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a store lives, once per backend: an SQLite file, or a fresh PostgreSQL schema dropped after."""
    if request.param == "sqlite":
        yield tmp_path / "cartwire.sqlite3"
    else:
        with postgres_schema() as url:
            yield url


pytest_plugins = ["pytester"]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    """Start raw socket servers (`rawserver.RawServer`) with the given handlers; closed after the test."""
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()

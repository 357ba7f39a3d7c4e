"""Fixtures for the core's tests: catalogs of fake connectors, orders and events; a store of each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_fakes import FakePaypal, FakeSezzle, FakeStore, StoreOrder, connectors, order_event, store_order
from postgres import postgres_schema

from cartwire.core.catalog import Catalog
from cartwire.core.events import Event


# Session-scoped: a catalog is read-only once built, and hypothesis tests share it across examples.
@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog(connectors(FakeStore, FakeSezzle))


@pytest.fixture(scope="session")
def crowded_catalog() -> Catalog:
    return Catalog(connectors(FakeStore, FakeSezzle, FakePaypal))


@pytest.fixture
def make_event() -> Callable[..., Event]:
    return order_event


@pytest.fixture
def make_order() -> Callable[..., StoreOrder]:
    return store_order


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a store lives, once per backend: an SQLite file, or a fresh PostgreSQL schema dropped after."""
    if request.param == "sqlite":
        yield tmp_path / "cartwire.sqlite3"
    else:
        with postgres_schema() as url:
            yield url

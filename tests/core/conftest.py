"""Fixtures for the rule engine's tests: catalogs of fake connectors, orders and events."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_fakes import FakePaypal, FakeSezzle, FakeStore, StoreOrder, connectors, order_event, store_order

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

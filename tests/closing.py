"""Connectors built by a test fixture, each closed when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


@contextmanager
def closed_after(build: Callable[..., C]) -> Iterator[Callable[..., C]]:
    """`build`, wrapped so that every connector it made is closed when the block ends."""
    made: list[C] = []

    def make(*args: Any, **kwargs: Any) -> C:
        connector = build(*args, **kwargs)
        made.append(connector)
        return connector

    try:
        yield make
    finally:
        for connector in made:
            connector.close()

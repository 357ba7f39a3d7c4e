"""Fixtures for connector authors, registered by Cartwire's pytest plugin (`cartwire.testing.pytest_plugin`).

- `cartwire_emulator(app)`: serve an ASGI app (an emulator's `.app`) on 127.0.0.1 for the test;
  returns a `ServedApp` whose `base_url` the connector's settings point at. Stopped afterwards.
- `cartwire_engine(*rules, connectors=None)`: an `Engine` compiled from rule files or folders
  (`Path`) and rule source (`str`) against the given connector instances, or against every
  registered connector with default settings. `RuleError` lists every problem.
- `cartwire_events(*sources, connectors=None, query=None)`: the events of recordings
  (`cartwire run --record`), delivery body files (`Path`), or raw bodies (`bytes`, or a JSON-able
  value), parsed without authentication as `cartwire replay` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cartwire.core.catalog import Catalog
    from cartwire.core.engine import Engine
    from cartwire.core.events import Event
    from cartwire.plugins.connector import Connector
    from cartwire.testing.server import ServedApp

Source = bytes | str | Path | Any


def catalog_of(connectors: Sequence[Connector] | None) -> Catalog:
    """A catalog of `connectors`, or of every registered connector with default settings."""
    from cartwire.core.catalog import Catalog
    from cartwire.core.config import default_connectors
    from cartwire.plugins.manager import connector_registry

    return Catalog(default_connectors(connector_registry()) if connectors is None else connectors)


def events_of(catalog: Catalog, source: Source, query: Mapping[str, str] | None = None) -> list[Event]:
    """The events of a recording or body file (`Path`), or of a raw body (bytes, or a JSON-able value)."""
    import json

    from cartwire.replay.inputs import parse_body, read_inputs

    if isinstance(source, Path):
        inputs = list(read_inputs(catalog, [source]))
        problems = [i.problem for i in inputs if i.event is None]
        if problems:
            raise ValueError("; ".join(problems))
        return [i.event for i in inputs if i.event is not None]
    body = source if isinstance(source, bytes) else json.dumps(source).encode()
    return parse_body(catalog, body, query)


@pytest.fixture
def cartwire_emulator() -> Iterator[Callable[[Any], ServedApp]]:
    """`cartwire_emulator(emulator.app)` -> a `ServedApp` on loopback, stopped after the test."""
    from cartwire.testing.server import start_app

    running: list[ServedApp] = []

    def serve(app: Any) -> ServedApp:
        running.append(start_app(app))
        return running[-1]

    yield serve
    for served in reversed(running):
        served.stop()


@pytest.fixture
def cartwire_engine() -> Callable[..., Engine]:
    """`cartwire_engine(Path("rules"), 'rule "r" on ... end', connectors=[...])` -> an `Engine`."""

    def load(*rules: Path | str, connectors: Sequence[Connector] | None = None) -> Engine:
        from cartwire.core.engine import RuleError, compile_rules
        from cartwire.grammar import RuleSyntaxError, parse_rules
        from cartwire.rules.loader import check_paths, parse_paths

        catalog = catalog_of(connectors)
        paths = [r for r in rules if isinstance(r, Path)]
        files, diagnostics = parse_paths(paths) if paths else ([], [])
        if diagnostics:
            raise RuleError(check_paths(paths, catalog))
        for index, text in enumerate(r for r in rules if isinstance(r, str)):
            try:
                files.append(parse_rules(text, f"<rules {index + 1}>"))
            except RuleSyntaxError as error:
                raise RuleError([error.diagnostic]) from None
        return compile_rules(files, catalog)

    return load


@pytest.fixture
def cartwire_events() -> Callable[..., list[Event]]:
    """`cartwire_events(Path("recording.jsonl"), connectors=[...])` -> the events, in order."""

    def read(
        *sources: Source, connectors: Sequence[Connector] | None = None, query: Mapping[str, str] | None = None
    ) -> list[Event]:
        catalog = catalog_of(connectors)
        return [event for source in sources for event in events_of(catalog, source, query)]

    return read

"""Type checks of the plain values in `cartwire.toml` (`database`, `rules`, `[server]`).

TOML gives any type anywhere; each check turns a wrong one into a ConfigError naming the file
and key, instead of a TypeError deep in whatever uses the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SERVER_KEYS = ("host", "port", "stop_timeout", "concurrency")


class ConfigValueError(ValueError):
    """A value of the wrong type or range; the message names the key."""


def text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigValueError(f"{key}: expected a non-empty string, got {_show(value)}")
    return value


def texts(value: Any, key: str) -> list[str]:
    """A string or a non-empty list of strings (`rules = "rules"` or `rules = ["a", "b"]`)."""
    if isinstance(value, str):
        return [text(value, key)]
    if not isinstance(value, list):
        raise ConfigValueError(f"{key}: expected a string or a list of strings, got {_show(value)}")
    if not value:
        raise ConfigValueError(f"{key}: expected at least one path, got []")
    return [text(item, f"{key}[{index}]") for index, item in enumerate(value)]


def tables(value: Any, key: str) -> Mapping[str, Mapping[str, Any]]:
    """A table of tables (`[connectors.NAME]`)."""
    if not isinstance(value, Mapping):
        raise ConfigValueError(f"{key}: expected tables [{key}.NAME], got {_show(value)}")
    for name, table in value.items():
        if not isinstance(table, Mapping):
            raise ConfigValueError(f"{key}.{name}: expected a table [{key}.{name}], got {_show(table)}")
    return value


def server(value: Any) -> tuple[str, int, float, int]:
    """Host, port, stop timeout and concurrency of `[server]`, which takes no other key."""
    if not isinstance(value, Mapping):
        raise ConfigValueError(f"server: expected a table [server], got {_show(value)}")
    unknown = sorted(set(value) - set(SERVER_KEYS))
    if unknown:
        raise ConfigValueError(f"[server]: unknown key {unknown[0]!r} (expected one of {', '.join(SERVER_KEYS)})")
    port = value.get("port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigValueError(f"[server] port: expected an integer from 1 to 65535, got {_show(port)}")
    stop_timeout = value.get("stop_timeout", 30.0)
    if (
        isinstance(stop_timeout, bool)
        or not isinstance(stop_timeout, (int, float))
        or not math.isfinite(stop_timeout)
        or stop_timeout <= 0
    ):
        raise ConfigValueError(
            f"[server] stop_timeout: expected a finite number of seconds above 0, got {_show(stop_timeout)}"
        )
    concurrency = value.get("concurrency", 8)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigValueError(f"[server] concurrency: expected a whole number of at least 1, got {_show(concurrency)}")
    return text(value.get("host", "127.0.0.1"), "[server] host"), port, float(stop_timeout), concurrency


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{type(value).__name__} {shown[:37]}..."

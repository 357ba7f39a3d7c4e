"""The configuration file (`cartwire.toml`): store, rules, server and each connector's settings.

Secrets should not sit in the file: a value written `"${NAME}"` is read from the environment
variable NAME, and a missing variable is an error that names it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cartwire.core.runtime import RetryPolicy
from cartwire.plugins.connector import Connector
from cartwire.plugins.manager import ConnectorRegistry

_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(Exception):
    """The configuration is wrong; the message says which file and key."""


@dataclass(frozen=True)
class Config:
    path: Path | None
    database: Path
    rules: list[Path]
    host: str = "127.0.0.1"
    port: int = 8080
    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8  # remote calls the worker makes at the same time, for different entities


def load_config(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return config_from_mapping(raw, path)


def config_from_mapping(raw: Mapping[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "configuration"
    base = path.parent if path else Path.cwd()
    known = {"database", "rules", "server", "connectors", "retry"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(known))})")
    server = raw.get("server", {})
    rules = raw.get("rules", ["rules"])
    if isinstance(rules, str):
        rules = [rules]
    try:
        retry = RetryPolicy(**raw.get("retry", {}))
    except TypeError as error:
        raise ConfigError(f"{where} [retry]: {error}") from None
    concurrency = server.get("concurrency", 8)
    if type(concurrency) is not int or concurrency < 1:
        raise ConfigError(f"{where} [server] concurrency: must be a whole number of at least 1, not {concurrency!r}")
    connectors = {
        name: {key: _resolve(value, f"{where} [connectors.{name}] {key}") for key, value in settings.items()}
        for name, settings in raw.get("connectors", {}).items()
    }
    return Config(
        path=path,
        database=base / raw.get("database", "cartwire.sqlite3"),
        rules=[base / entry for entry in rules],
        host=server.get("host", "127.0.0.1"),
        port=int(server.get("port", 8080)),
        connectors=connectors,
        retry=retry,
        concurrency=concurrency,
    )


def _resolve(value: Any, where: str) -> Any:
    if isinstance(value, str) and (match := _ENV_REFERENCE.match(value)):
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    return value


def build_connectors(
    registry: ConnectorRegistry, settings: Mapping[str, Mapping[str, Any]], **kwargs: Any
) -> list[Connector]:
    """Instantiate each configured connector with its validated settings."""
    connectors = []
    for name, values in settings.items():
        try:
            cls = registry.get(name)
        except LookupError as error:
            raise ConfigError(f"[connectors.{name}]: {error}") from None
        try:
            connectors.append(cls(cls.Settings.model_validate(dict(values)), **kwargs))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors(include_input=False)
            )
            raise ConfigError(f"[connectors.{name}]: {problems}") from None
    return connectors


def default_connectors(registry: ConnectorRegistry) -> list[Connector]:
    """Every registered connector with default settings: enough to check and replay rules."""
    return [cls(cls.Settings()) for _, cls in sorted(registry.classes.items())]

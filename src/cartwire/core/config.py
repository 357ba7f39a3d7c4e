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

from cartwire.core.backend import is_postgres_url
from cartwire.core.ratelimit import rate_limit_from_table
from cartwire.core.retry import RetrySettings
from cartwire.plugins.connector import Connector
from cartwire.plugins.manager import ConnectorRegistry
from cartwire.plugins.policy import RateLimit

_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(Exception):
    """The configuration is wrong; the message says which file and key."""


@dataclass(frozen=True)
class Config:
    path: Path | None
    database: Path | str  # an SQLite file, or a postgresql:// URL (see `backend.open_store`)
    rules: list[Path]
    host: str = "127.0.0.1"
    port: int = 8080
    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: RetrySettings = field(default_factory=RetrySettings)
    stop_timeout: float = 30.0  # seconds SIGTERM waits for the action in flight
    rate_limits: dict[str, RateLimit | None] = field(default_factory=dict)  # replacing connectors' declared ones


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
    known = {"database", "rules", "server", "connectors", "retry", "rate_limit"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(known))})")
    server = raw.get("server", {})
    rules = raw.get("rules", ["rules"])
    if isinstance(rules, str):
        rules = [rules]
    try:
        retry = RetrySettings.from_table(raw.get("retry", {}))
    except ValueError as error:
        raise ConfigError(f"{where} {error}") from None
    try:
        rate_limits = {
            name: rate_limit_from_table(table, f"[rate_limit.{name}]")
            for name, table in raw.get("rate_limit", {}).items()
        }
    except (ValueError, AttributeError) as error:
        raise ConfigError(f"{where} {error}") from None
    unknown_server = sorted(set(server) - {"host", "port", "stop_timeout"})
    if unknown_server:
        raise ConfigError(f"{where} [server]: unknown key {unknown_server[0]!r} (expected host, port, stop_timeout)")
    connectors = {
        name: {key: _resolve(value, f"{where} [connectors.{name}] {key}") for key, value in settings.items()}
        for name, settings in raw.get("connectors", {}).items()
    }
    return Config(
        path=path,
        database=_database(raw.get("database", "cartwire.sqlite3"), base, where),
        rules=[base / entry for entry in rules],
        host=server.get("host", "127.0.0.1"),
        port=int(server.get("port", 8080)),
        stop_timeout=float(server.get("stop_timeout", 30.0)),
        rate_limits=rate_limits,
        connectors=connectors,
        retry=retry,
    )


def _database(value: Any, base: Path, where: str) -> Path | str:
    """A URL as written (`${VAR}` allowed, to keep a password out of the file); a path relative to the file."""
    value = _resolve(value, f"{where} database")
    if not isinstance(value, str):
        raise ConfigError(f"{where} database: expected a file path or a postgresql:// URL, got {value!r}")
    return value if is_postgres_url(value) else base / value


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

"""The configuration file (`cartwire.toml`): store, rules, server and each connector's settings.

Secrets should not sit in the file: a value written `"${NAME}"` is read from the environment
variable NAME, and a missing variable is an error that names it.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cartwire.core import config_values
from cartwire.core.backend import is_postgres_url
from cartwire.core.currency import RateTable
from cartwire.core.ratelimit import rate_limit_from_table
from cartwire.core.retry import RetrySettings
from cartwire.core.timeutil import zone
from cartwire.plugins.connector import Connector
from cartwire.plugins.manager import ConnectorRegistry
from cartwire.plugins.policy import RateLimit

_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# A value like `mysql://…`: a URL, not a file name (any scheme of two letters or more: `C:\` is a drive).
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
# Not file paths, though they would be read as one and printed back in an error with their password:
# libpq's keyword form (`host=db password=…`), a URL with one slash (`postgresql:/bob:pw@db/shop`),
# anything with `name:password@` in it.
_KEYWORD_FORM = re.compile(r"(?:^|\s)(?:host|hostaddr|dbname|user|password|port|sslmode|service)\s*=")
_SCHEME_WITHOUT_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(?!//)")
_USER_AND_PASSWORD = re.compile(r":[^@\s]*@")  # a password may hold a `/`


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
    # `${NAME}` references left empty because NAME was not set (only with `secrets_required=False`).
    unset_variables: tuple[str, ...] = ()
    rates: RateTable = field(default_factory=RateTable)  # [rates], for `convert()` in rules
    time_zone: str = "UTC"  # the store's zone: dates in rules and schedules without one
    concurrency: int = 8  # remote calls the worker makes at the same time, for different entities


def load_config(path: Path, *, secrets_required: bool = True) -> Config:
    """`secrets_required=False` (check, replay): a `${NAME}` whose variable is unset reads as empty."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a configuration file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the configuration file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return config_from_mapping(raw, path, secrets_required=secrets_required)


def config_from_mapping(raw: Mapping[str, Any], path: Path | None = None, *, secrets_required: bool = True) -> Config:
    where = str(path) if path else "configuration"
    base = path.parent if path else Path.cwd()
    known = {"database", "rules", "server", "connectors", "retry", "rate_limit", "rates", "time_zone"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(known))})")
    try:
        host, port, stop_timeout, concurrency = config_values.server(raw.get("server", {}))
        rules = config_values.texts(raw.get("rules", ["rules"]), "rules")
        database = config_values.text(raw.get("database", "cartwire.sqlite3"), "database")
        tables = config_values.tables(raw.get("connectors", {}), "connectors")
        limit_tables = config_values.tables(raw.get("rate_limit", {}), "rate_limit")
    except config_values.ConfigValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    try:
        retry = RetrySettings.from_table(raw.get("retry", {}))
    except ValueError as error:
        raise ConfigError(f"{where} {error}") from None
    try:
        rate_limits = {
            name: rate_limit_from_table(table, f"[rate_limit.{name}]") for name, table in limit_tables.items()
        }
    except ValueError as error:
        raise ConfigError(f"{where} {error}") from None
    try:
        rates = RateTable.parse(raw.get("rates", {}), "[rates]")
        time_zone = raw.get("time_zone", "UTC")
        zone(str(time_zone))
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    unset: list[str] | None = None if secrets_required else []
    connectors = {
        name: {key: _resolve(value, f"{where} [connectors.{name}] {key}", unset) for key, value in settings.items()}
        for name, settings in tables.items()
    }
    return Config(
        path=path,
        database=_database(database, base, where),
        rules=[base / entry for entry in rules],
        host=host,
        port=port,
        stop_timeout=stop_timeout,
        rate_limits=rate_limits,
        connectors=connectors,
        retry=retry,
        unset_variables=tuple(unset or ()),
        rates=rates,
        time_zone=str(time_zone),
        concurrency=concurrency,
    )


def _database(value: Any, base: Path, where: str) -> Path | str:
    """A URL as written (`${VAR}` allowed, to keep a password out of the file); a path relative to the file."""
    value = _resolve(value, f"{where} database")
    if not isinstance(value, str):
        raise ConfigError(f"{where} database: expected a file path or a postgresql:// URL, got {value!r}")
    if is_postgres_url(value):
        return value
    scheme = _URL_SCHEME.match(value)
    if scheme is not None:  # the rest is not shown: a URL may hold a password
        raise ConfigError(
            f"{where} database: {scheme.group(1)}:// is not a store Cartwire can use;"
            " give a file path (SQLite) or a postgresql:// URL"
        )
    if _KEYWORD_FORM.search(value):
        raise ConfigError(
            f"{where} database: a connection string in libpq's keyword form (host=… dbname=…) is not"
            " read; write it as a postgresql:// URL (it is not shown: it may hold a password)"
        )
    if _SCHEME_WITHOUT_SLASHES.match(value) or _USER_AND_PASSWORD.search(value):
        raise ConfigError(
            f"{where} database: neither a file path nor a postgresql:// URL (it is not shown: it may hold a"
            " password); a URL starts postgresql://"
        )
    return base / value


def _resolve(value: Any, where: str, unset: list[str] | None = None) -> Any:
    """`value`, or the environment variable it names; an unset one is an error unless `unset`
    collects it (then it reads as empty). A value starting `${` that is not a whole `${NAME}` is an error."""
    if isinstance(value, str) and (match := _ENV_REFERENCE.match(value)):
        name = match.group(1)
        if name not in os.environ:
            if unset is None:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            unset.append(name)
            return ""
        return os.environ[name]
    if isinstance(value, str) and value.startswith("${"):  # `"${TOKEN"`, `"${}"`: a typo, not a literal
        raise ConfigError(f'{where}: not an environment reference: write "${{NAME}}" (letters, digits and _)')
    return value


def build_connectors(
    registry: ConnectorRegistry,
    settings: Mapping[str, Mapping[str, Any]],
    *,
    config_file: Path | None = None,
    **kwargs: Any,
) -> list[Connector]:
    """Instantiate each configured connector with its validated settings; an error names `config_file`."""
    where = f"{config_file or 'configuration'}: "
    connectors = []
    for name, values in settings.items():
        table = f"{where}[connectors.{name}]"
        try:
            cls = registry.get(name)
        except LookupError as error:
            raise ConfigError(f"{table}: {error}") from None
        if "poll_interval" in values and not cls.polls():
            raise ConfigError(f"{table} poll_interval: {name} does not poll (it has no poller); remove the key")
        try:
            connectors.append(cls(cls.Settings.model_validate(dict(values)), **kwargs))
        except ValidationError as error:
            problems = "; ".join(_setting_problem(item, cls.Settings.model_fields) for item in error.errors())
            raise ConfigError(f"{table} {problems}") from None
    return connectors


def _setting_problem(item: Any, fields: Mapping[str, Any]) -> str:
    """One pydantic error as `key: problem`, in the words of the other configuration errors (never the value,
    which may be a secret)."""
    key = ".".join(str(part) for part in item["loc"]) or "(table)"
    if item["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(fields), n=1)
        return f"{key}: unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    if item["type"] == "missing":
        return f"{key}: required, not set"
    expected = _EXPECTED.get(item["type"])
    if expected is not None:
        return f"{key}: expected {expected}"
    message = str(item["msg"])
    return f"{key}: {message[:1].lower()}{message[1:]}"


# pydantic error types whose message reads like Python's; the rest ("must be at least 1"…) are kept.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number (not nan or inf)",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "url_parsing": "a URL",
    "url_type": "a URL",
}


def default_connectors(registry: ConnectorRegistry) -> list[Connector]:
    """Every registered connector with default settings: enough to check and replay rules."""
    return [cls(cls.Settings()) for _, cls in sorted(registry.classes.items())]

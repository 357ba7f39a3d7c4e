"""Opening the store a configuration names, with an error that says which file and key is wrong."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cartwire.core import backend
from cartwire.core.config import Config, ConfigError
from cartwire.core.schema import not_a_store
from cartwire.core.store import SqlStore, Store


def open_store(config: Config, *, must_exist: bool = False) -> SqlStore:
    """The store at the configured `database` (a SQLite file, or a `postgresql://` URL); a ConfigError
    (never a traceback) when a SQLite file cannot be opened: its directory is missing, it is not a
    SQLite file, it holds someone else's tables, or (`must_exist`, for the commands that only look
    at a store) it is not there yet or is not a Cartwire store. Those commands never add a table, on
    PostgreSQL either (a `StoreUnavailable` there)."""
    if not isinstance(config.database, Path):
        return backend.open_store(config.database, create=not must_exist)
    where = f"{config.path or 'configuration'}: database"
    database = config.database
    if must_exist and not database.exists():
        raise ConfigError(f"{where}: {database} does not exist (has `cartwire run` run yet?)")
    if not database.parent.is_dir():
        raise ConfigError(f"{where}: the directory {database.parent} does not exist")
    if database.is_dir():
        raise ConfigError(f"{where}: {database} is a directory, not a SQLite file")
    try:
        problem = _not_a_store(database, empty_ok=not must_exist) if database.exists() else None
        if problem is not None:
            raise ConfigError(f"{where}: {database} is not a Cartwire store: {problem}")
        return Store(database)
    except sqlite3.Error as error:
        raise ConfigError(f"{where}: {database} cannot be opened as a Cartwire store ({error})") from None


def _not_a_store(database: Path, *, empty_ok: bool) -> str | None:
    """`schema.not_a_store` on a read-only connection: asking adds no table and no journal to the file."""
    db = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return not_a_store(db, empty_ok=empty_ok)
    finally:
        db.close()

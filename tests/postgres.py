"""A fresh PostgreSQL schema per test, on the server these machines run (or a skip that says why not),
and a look into a store of either backend from outside."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

SERVER = os.environ.get("CARTWIRE_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections see only a new, empty schema; the schema is dropped afterwards."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL not reachable at {urlsplit(SERVER).netloc}: {' '.join(str(error).split())}"
        if os.environ.get("CARTWIRE_REQUIRE_POSTGRES"):  # CI: a missing server is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"cartwire_test_{uuid.uuid4().hex}"
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{SERVER}{'&' if '?' in SERVER else '?'}options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def query(database: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from a store's database of either backend, as a look from outside the process."""
    if isinstance(database, Path):
        with closing(sqlite3.connect(database, timeout=10)) as db:
            return db.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(database) as db:
        return db.execute(sql).fetchall()

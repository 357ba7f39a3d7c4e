"""A fresh PostgreSQL schema per test, on the server these machines run (or a skip that says why not)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
        pytest.skip(f"PostgreSQL not reachable at {urlsplit(SERVER).netloc}: {' '.join(str(error).split())}")
    schema = f"cartwire_test_{uuid.uuid4().hex}"
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{SERVER}?options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()

"""The PostgreSQL store: the same inbox, outbox, rejected log and audit chain as SQLite, on a server.

`SqlStore` holds the SQL; this module opens the connection (autocommit, so `SqlStore` begins and
commits each transaction itself: a COMMIT returns only once the server has made it durable, before
the webhook is answered), rewrites `?` placeholders into psycopg's `%s`, and serializes the audit
chain's head with a transaction-scoped advisory lock, so that two processes writing to one database
never give two entries the same `seq`. The schema is in `cartwire.core.schema_pg`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import psycopg

from cartwire.core.backend import StoreUnavailable
from cartwire.core.schema_pg import AUDIT_HEAD_LOCK, STORE_KEY, WORKER_LOCK, migrate
from cartwire.core.store import Database, SqlStore
from cartwire.core.timeutil import utcnow

CLAIM_WAIT = 2.0  # seconds a worker waits for the claim of one that has just ended


class PostgresRow:
    """A row read by column name or by position, and iterated over its values, like `sqlite3.Row`."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: Mapping[str, int], values: Sequence[Any]):
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._names[key]]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], PostgresRow]:
    names = {column.name: index for index, column in enumerate(cursor.description or ())}
    return lambda values: PostgresRow(names, values)


class PostgresConnection:
    """A psycopg connection speaking `SqlStore`'s dialect (`Database`)."""

    def __init__(self, url: str):
        self._connection: psycopg.Connection[PostgresRow] = psycopg.connect(url, autocommit=True, row_factory=_rows)

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[PostgresRow]:
        if not parameters:  # as written: no placeholders, and several statements may be sent at once
            return self._connection.execute(sql)
        # psycopg's placeholder is %s, so a literal % is written %%; our SQL has no ? inside a literal.
        return self._connection.execute(sql.replace("%", "%%").replace("?", "%s"), parameters)

    def close(self) -> None:
        self._connection.close()


class PostgresStore(SqlStore):
    """The store on a PostgreSQL server, named by a `postgresql://` URL (libpq's form)."""

    _BEGIN = "BEGIN"

    def __init__(self, url: str, clock: Callable[[], datetime] = utcnow, *, create: bool = True):
        try:
            connection = PostgresConnection(url)
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"cannot connect to the PostgreSQL store: {_told(error, url)}") from None
        except psycopg.Error:  # libpq could not read the URL; its message quotes it, password and all
            raise StoreUnavailable(
                "the database URL is not one libpq can read (look at its percent-escapes (%XX), its host and"
                " its port; it is not shown here, since it may hold a password)"
            ) from None
        try:
            if not create and connection.execute("SELECT to_regclass('schema_version')").fetchall()[0][0] is None:
                connection.close()
                raise StoreUnavailable(
                    "the PostgreSQL database (or schema) holds no Cartwire store yet (has `cartwire run` run yet?)"
                )
            migrate(connection)
        except psycopg.Error as error:  # e.g. the URL's search_path names a schema that does not exist
            connection.close()
            raise StoreUnavailable(f"cannot prepare the PostgreSQL store's tables: {_told(error, url)}") from None
        super().__init__(connection, clock)
        self._claimed = False

    def _lock_audit_head(self, db: Database) -> None:
        db.execute(f"SELECT pg_advisory_xact_lock(?, {STORE_KEY})", (AUDIT_HEAD_LOCK,))

    def claim_worker(self) -> None:
        """A session advisory lock, held until the connection closes (taken once: it would stack)."""
        if self._claimed:
            return
        # A worker that has just ended (closed its connection, or been killed) holds the lock until the
        # server has seen its session go, a moment later: a worker started at once waits for that.
        deadline = time.monotonic() + CLAIM_WAIT
        while not (claimed := self._try_claim()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not claimed:
            raise StoreUnavailable(
                "another cartwire worker is running on this PostgreSQL store; one worker per store is supported"
            )
        self._claimed = True

    def _try_claim(self) -> bool:
        with self._lock:
            return bool(self._db.execute(f"SELECT pg_try_advisory_lock(?, {STORE_KEY})", (WORKER_LOCK,)).fetchone()[0])


def _told(error: Exception, url: str) -> str:
    """libpq's message on one line, without the URL's password, as written or percent-decoded."""
    text = _one_line(error)
    rest = url.partition("://")[2]
    # The user part ends at the host's `@`: the last one before the path, or, in a URL whose password
    # holds an unescaped `/` or `?`, the last one at all. Both are hidden.
    candidates = (re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[0], rest.rpartition("@")[0])
    passwords = {userinfo.partition(":")[2] for userinfo in candidates}
    for secret in sorted(passwords | {unquote(p) for p in passwords}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def _one_line(error: Exception) -> str:
    """libpq's messages run over several lines; a log line or a CLI error wants one."""
    return " ".join(str(error).split())

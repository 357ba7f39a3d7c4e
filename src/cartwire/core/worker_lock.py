"""One worker per SQLite store: an exclusive `flock` on a lock file beside the database.

The lock is held for the life of the process (or until the store is closed); the operating system
drops it when the process ends, however it ends, so a killed worker never leaves a stale lock. The
admin commands take no lock: they read and write the store while the worker runs.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cartwire.core.backend import StoreUnavailable


def lock_path(database: str | Path) -> Path:
    """The lock file of the SQLite store at `database`: `cw.sqlite3` → `cw.sqlite3.lock`."""
    path = Path(database)
    return path.with_name(path.name + ".lock")


class WorkerLock:
    """The claim of one worker on one SQLite store; `acquire` raises `StoreUnavailable` if another process
    (or another open of the store) holds it."""

    def __init__(self, database: str | Path):
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreUnavailable(
                f"another cartwire worker is running on this SQLite store ({self.path} is locked);"
                " one worker per store is supported"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

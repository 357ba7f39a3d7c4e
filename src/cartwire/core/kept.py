"""Subjects already parsed, kept by the row of their stored event so that the worker need not
re-validate the stored JSON, which is the same subject serialized.

Each is checked against the stored event's dedupe key when used, and kept within bounds: beyond
`items` subjects, or `size` bytes of their JSON (parsed objects take several times that), the
oldest are dropped, to be read from their JSON again.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel


class KeptSubjects:
    """Thread-safe: the intake threads put, the worker takes."""

    def __init__(self, items: int, size: int):
        self.items = items
        self.size = size
        self.bytes = 0  # of the kept subjects' JSON
        self._kept: dict[int, tuple[str, BaseModel, int]] = {}  # row -> (dedupe key, subject, JSON size)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def put(self, row: int, dedupe_key: str, subject: BaseModel, size: int) -> None:
        with self._lock:
            previous = self._kept.pop(row, None)
            if previous is not None:
                self.bytes -= previous[2]
            self._kept[row] = (dedupe_key, subject, size)
            self.bytes += size
            while self._kept and (len(self._kept) > self.items or self.bytes > self.size):
                oldest = next(iter(self._kept))  # dicts keep their insertion order
                self.bytes -= self._kept.pop(oldest)[2]

    def take(self, row: int, dedupe_key: str) -> BaseModel | None:
        """The subject of `row` (no longer kept), or None."""
        with self._lock:
            kept = self._kept.pop(row, None)
            if kept is not None:
                self.bytes -= kept[2]
        return kept[1] if kept is not None and kept[0] == dedupe_key else None

    def get(self, row: int, dedupe_key: str) -> BaseModel | None:
        """The subject of `row` (still kept), or None."""
        with self._lock:
            kept = self._kept.get(row)
        return kept[1] if kept is not None and kept[0] == dedupe_key else None

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self.bytes = 0

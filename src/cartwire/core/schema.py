"""The SQLite schema and its migrations, tracked in `PRAGMA user_version`.

Version 1 is the first runtime's inbox, outbox and rejected log; version 2 adds the timestamps
`status` needs, the `in_flight` and `discarded` states, and the append-only audit chain; version 3
adds the pollers' durable cursors and the indexes that find an entity's or a type's events;
version 4 adds each action's `target`, the remote record it writes (never two at once); version 5
lets an action name several records (`action_targets`, see `ACTION_TARGETS`). A database of any
older version is brought up to date when it is opened.
"""

from __future__ import annotations

import sqlite3

VERSION_1 = """
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    type         TEXT NOT NULL,
    entity       TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL UNIQUE,
    occurred_at  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    subject      TEXT NOT NULL,          -- the typed payload as JSON, re-validated by the event type's model
    body         BLOB NOT NULL,          -- the raw delivery, for review and recording
    state        TEXT NOT NULL DEFAULT 'pending',   -- pending | evaluated | failed | discarded
    fired        TEXT NOT NULL DEFAULT '[]',
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_state ON events (state, id);

CREATE TABLE IF NOT EXISTS actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_row        INTEGER NOT NULL REFERENCES events (id),
    entity           TEXT NOT NULL,
    position         INTEGER NOT NULL,
    rule             TEXT NOT NULL,
    connector        TEXT NOT NULL,
    action           TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL DEFAULT 'pending',   -- pending | in_flight | done | failed | discarded
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL DEFAULT '',
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_due ON actions (state, next_attempt_at);

CREATE TABLE IF NOT EXISTS rejected (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    headers      TEXT NOT NULL,
    body         BLOB NOT NULL
);
"""

VERSION_2 = """
ALTER TABLE events ADD COLUMN evaluated_at TEXT;
ALTER TABLE events ADD COLUMN discarded_by TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN discarded_at TEXT;
ALTER TABLE actions ADD COLUMN created_at TEXT;
ALTER TABLE actions ADD COLUMN finished_at TEXT;
ALTER TABLE actions ADD COLUMN discarded_by TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN discarded_at TEXT;
UPDATE actions SET created_at = updated_at;
UPDATE actions SET finished_at = updated_at WHERE state IN ('done', 'failed');
CREATE INDEX actions_event ON actions (event_row);
CREATE INDEX actions_entity ON actions (entity, state, id);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,      -- 1, 2, 3… with no gaps: part of what is hashed
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    entity     TEXT NOT NULL,
    detail     TEXT NOT NULL,            -- canonical JSON, secrets redacted
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_entity ON audit (entity, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

VERSION_3 = """
CREATE TABLE poll_cursors (
    connector  TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,         -- opaque to the runtime: the connector's own text
    polled_at  TEXT NOT NULL
);
CREATE INDEX events_entity ON events (entity, occurred_at);
CREATE INDEX events_type ON events (type, occurred_at);
"""

VERSION_4 = """
ALTER TABLE actions ADD COLUMN target TEXT NOT NULL DEFAULT '';
CREATE INDEX actions_target ON actions (target, state, id);
"""

# Each remote record an action writes, one row each, for as long as the action may still run: kept
# while it is pending, in flight or a dead letter (a retry makes it pending again), removed when it is
# done or discarded, so that the check "is another action on this record waiting or running" reads
# only actions that are not finished, however many wrote the record before. `actions.target` keeps
# the same records as text (", " between them), for people reading the action. Both backends.
ACTION_TARGETS = """
CREATE TABLE action_targets (
    target  TEXT NOT NULL,
    action  BIGINT NOT NULL,
    PRIMARY KEY (target, action)
);
CREATE INDEX action_targets_action ON action_targets (action);
INSERT INTO action_targets (target, action)
    SELECT target, id FROM actions WHERE target <> '' AND state NOT IN ('done', 'discarded');
DROP INDEX actions_target;
"""

MIGRATIONS = (VERSION_1, VERSION_2, VERSION_3, VERSION_4, ACTION_TARGETS)
# The tables each version adds: a store at version N has all of them up to N.
TABLES = (("events", "actions", "rejected"), ("audit",), ("poll_cursors",), (), ("action_targets",))


def not_a_store(db: sqlite3.Connection, *, empty_ok: bool) -> str | None:
    """Why the database behind `db` is not a Cartwire store, or None when it is one (or it is empty and
    `empty_ok`: a store about to be made). Reads only, so a foreign file is never changed by asking."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and "events" not in tables:
        if not tables:
            return None if empty_ok else "it is empty (has `cartwire run` run yet?)"
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        return f"it holds other tables ({shown}) and none of Cartwire's"
    missing = [name for added in TABLES[:version] for name in added if name not in tables]
    if missing:
        return f"its {', '.join(missing)} table{'s are' if len(missing) > 1 else ' is'} missing"
    return None


def migrate(db: sqlite3.Connection) -> int:
    """Bring the database to the latest version, each step in its own transaction; return it."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS, start=1):
        if version < number:
            # executescript commits first; BEGIN/COMMIT inside it make the step all-or-nothing.
            try:
                db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            version = number
    return version

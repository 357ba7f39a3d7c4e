"""`cartwire held`: the events a rule's `hold "reason"` set aside for a person.

A hold stops the event's lower-priority rules; its actions of higher priority are planned as
usual. The runtime records each hold as an `event.held` audit entry in the same transaction as the
plan, so this list is the audit chain's, and nothing is held without a trace.
"""

from __future__ import annotations

import json

from cartwire.core.backend import AdminStore


def held_lines(store: AdminStore) -> list[str]:
    """One line per held event, oldest first: event id, when, rule, entity, reason."""
    lines = []
    for entry in store.held():
        detail = json.loads(entry.detail)
        ident = f"e{detail['event']}"
        lines.append(f"{ident:<7} {entry.at[:19]}Z  {detail['rule']!r:<30} {entry.entity:<24} {detail['reason']}")
    return lines

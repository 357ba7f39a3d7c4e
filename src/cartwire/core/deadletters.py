"""Dead letters: actions that failed for good and events whose evaluation failed, for a person to decide.

They are named `a<row>` (an action) and `e<row>` (an event) so the two can never be confused. A
retried action goes back to pending with its ORIGINAL idempotency key and a fresh set of attempts;
a retried event is evaluated again (its actions get the same keys as before). A discarded one is
kept, marked with who discarded it and when.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cartwire.core.backend import AdminStore
from cartwire.core.records import DeadLetterError, DeadLetterKind, Decision, StoredAction, StoredEvent

# ASCII digits only: `\d` would also read other scripts' digits (`a٣` as a3).
_ID = re.compile(r"^([ae])([0-9]+)$", re.I)
# The largest row number either backend can store (a signed 64-bit integer): beyond it there is no row.
_MAX_ROW = 2**63 - 1
_KINDS: dict[str, DeadLetterKind] = {"a": "action", "e": "event"}


@dataclass(frozen=True)
class DeadLetterId:
    kind: DeadLetterKind
    row: int

    def __str__(self) -> str:
        return f"{self.kind[0]}{self.row}"


def parse_id(text: str) -> DeadLetterId:
    """`a12` is action 12, `e7` is event 7; anything else is an error saying so."""
    match = _ID.match(text.strip())
    if match is None:
        raise DeadLetterError(
            f"{text!r} is not a dead-letter id: write a<number> for an action or e<number> for an event"
            " (as `cartwire failed list` shows them)"
        )
    kind, row = _KINDS[match.group(1).lower()], int(match.group(2))
    if row > _MAX_ROW:
        raise DeadLetterError(f"there is no {kind} {match.group(2)}")  # as for any id with no row
    return DeadLetterId(kind, row)


def parse_ids(texts: Iterable[str]) -> list[DeadLetterId]:
    """Each id once, in the order first given (`retry a1 a1` retries a1 once)."""
    return list(dict.fromkeys(parse_id(text) for text in texts))


def terminal_safe(line: str) -> str:
    """`line` with every character a terminal would act on rather than show (a control character, a
    right-to-left override such as U+202E, a line separator) written as its escape: the text comes
    from whoever sent the webhook."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)


def list_lines(store: AdminStore) -> list[str]:
    """One line per dead letter, oldest first: id, when, rule, connector.action, entity, attempts, error."""
    lines = [
        _line(f"a{a.row}", a.finished_at or a.updated_at, a.rule, a.qualified_name, a.entity, a.attempts, a.last_error)
        for a in store.actions("failed")
    ]
    lines += [
        _line(f"e{e.row}", e.evaluated_at or e.received_at, "-", e.type, e.entity, 1, e.error)
        for e in store.events("failed")
    ]
    return lines


def _line(ident: str, when: datetime | None, rule: str, what: str, entity: str, attempts: int, error: str) -> str:
    stamp = when.strftime("%Y-%m-%d %H:%M:%SZ") if when else "-"
    first_line = error.splitlines()[0] if error else ""
    return f"{ident:<7} {stamp}  {rule!r:<30} {what:<24} {entity:<24} {attempts:>2}x  {first_line}"


def show_lines(store: AdminStore, ident: DeadLetterId) -> list[str]:
    """Everything about one action or event (an action with the event it came from)."""
    if ident.kind == "action":
        action = store.action(ident.row)
        if action is None:
            raise DeadLetterError(f"there is no action {ident.row}")
        event = store.event(action.event_row)
        siblings = [a for a in store.actions() if event and a.event_row == event.row]
        return _action_lines(action) + (["", *_event_lines(event, siblings)] if event else [])
    found = store.event(ident.row)
    if found is None:
        raise DeadLetterError(f"there is no event {ident.row}")
    return _event_lines(found, [a for a in store.actions() if a.event_row == found.row])


def _action_lines(action: StoredAction) -> list[str]:
    lines = [
        f"action a{action.row}: {action.qualified_name} for {action.entity}",
        f"  state            {action.state}",
        f"  rule             {action.rule!r} (action {action.position + 1} of the rule)",
        f"  idempotency key  {action.idempotency_key}",
        f"  attempts         {action.attempts}",
        f"  planned at       {_when(action.created_at)}",
        f"  last change      {_when(action.updated_at)}",
        f"  last error       {action.last_error or '-'}",
        f"  arguments        {json.dumps(action.arguments, sort_keys=True)}",
    ]
    if action.result is not None:
        lines.append(f"  result           {json.dumps(action.result, sort_keys=True)}")
    return lines + _discarded(action.discarded_by, action.discarded_at)


def outcome(event: StoredEvent, actions: list[StoredAction]) -> str:
    """Where the event's handling stands, counting its actions, as `cartwire status` counts it
    (see `status.py`): an evaluated event with a dead-letter action has failed."""
    states = {action.state for action in actions}
    if event.state == "pending" or states & {"pending", "in_flight"}:
        return "pending"
    for ended in ("failed", "discarded"):
        if event.state == ended or ended in states:
            return ended
    return "processed"


# What an event's own state says: only whether its rules ran (the outcome also counts its actions).
_EVENT_STATES = {
    "pending": "its rules have not run yet",
    "evaluated": "its rules ran; the outcome above also counts its actions",
    "failed": "its rules could not run on it: see the error",
    "discarded": "a person discarded it",
}


def _event_lines(event: StoredEvent, actions: list[StoredAction]) -> list[str]:
    dead = [f"a{a.row}" for a in actions if a.state == "failed"]
    because = f" (dead-letter action {', '.join(dead)})" if dead and event.state != "failed" else ""
    lines = [
        f"event e{event.row}: {event.type} for {event.entity}",
        f"  outcome          {outcome(event, actions)}{because}",
        f"  event state      {event.state} ({_EVENT_STATES.get(event.state, 'unknown state')})",
        f"  id               {event.event_id} (dedupe key {event.dedupe_key})",
        f"  occurred at      {_when(event.occurred_at)}",
        f"  received at      {_when(event.received_at)}",
        f"  rules fired      {', '.join(repr(rule) for rule in event.fired) or '-'}",
        f"  error            {event.error or '-'}",
        f"  subject          {event.subject}",
    ]
    return lines + _discarded(event.discarded_by, event.discarded_at)


def _discarded(by: str, at: datetime | None) -> list[str]:
    return [f"  discarded        by {by or 'unknown'} at {_when(at)}"] if at else []


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "-"


def decide(store: AdminStore, idents: list[DeadLetterId], decision: Decision, by: str) -> tuple[list[str], list[str]]:
    """Retry or discard each dead letter; return what was done and, separately, what could not be."""
    done, refused = [], []
    for ident in idents:
        try:
            store.resolve_dead_letter(ident.kind, ident.row, decision, by)
        except DeadLetterError as error:
            refused.append(str(error))
        else:
            done.append(f"{ident}: {'back to pending' if decision == 'retry' else 'discarded'}")
    return done, refused

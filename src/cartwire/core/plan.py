"""The result of evaluating rules on one event: what should be done, with nothing done yet."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cartwire.core.events import Event


@dataclass(frozen=True)
class ActionCall:
    """One action a rule asked for, with validated arguments and its idempotency key."""

    connector: str
    action: str
    arguments: dict[str, Any] = field(hash=False)
    rule: str
    idempotency_key: str
    # The action's argument model the arguments were validated into, when the engine built the call:
    # the runtime writes the plan from it instead of validating the same values a second time.
    validated: BaseModel | None = field(default=None, hash=False, compare=False, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.connector}.{self.action}"


@dataclass(frozen=True)
class Hold:
    """A rule's `hold "reason"`: this event needs a person before anything else happens to it."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Overridden:
    """A call left out because a rule of higher priority wants another value for the same target."""

    call: ActionCall
    by: str  # the winning rule
    reason: str


@dataclass(frozen=True)
class Conflict:
    """Rules of the same priority want different values for one target: none of their calls is
    planned, and the runtime can hold the event for review.
    """

    calls: tuple[ActionCall, ...]
    reason: str


@dataclass(frozen=True)
class Plan:
    """Ordered action calls for one event, and which rules fired. `stopped_by` names the rule
    whose `stop` or `hold` ended the evaluation early.
    """

    event: Event
    calls: tuple[ActionCall, ...] = ()
    fired: tuple[str, ...] = ()
    holds: tuple[Hold, ...] = ()
    overridden: tuple[Overridden, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    stopped_by: str | None = None

    @property
    def needs_review(self) -> bool:
        """True when a rule held the event or rules disagree: a person should look at it."""
        return bool(self.holds or self.conflicts)


def idempotency_key(event: Event, rule: str, position: int, qualified_action: str) -> str:
    """The same event, rule and action always give the same key, so a repeat is recognised.

    The key is 32 hex digits (a valid `Sezzle-Request-Id`), derived from the event's dedupe key,
    the rule's name, the action's position within the rule and the action's name.
    """
    material = "\x1f".join((event.dedupe_key, rule, str(position), qualified_action))
    return hashlib.sha256(material.encode()).hexdigest()[:32]

"""State between events: what rules may know about the earlier events of the event's entity.

A `History` is a plain value folded, in evaluation order, over the entity's earlier evaluated
events and the actions their plans asked for (`History.after`). The runtime folds it from its
store, replay from the recording's earlier events and the plans replay made of them; both go
through `after`, so the same events and plans give the same history. Rules read it as
`history.<field>` (`HISTORY_FIELDS`); evaluation stays side-effect free, since the history is
part of the event handed to the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cartwire.core.money import CurrencyMismatch, Money
from cartwire.core.types import MONEY, NUMBER, STRING, Optional_, Type

# What `history.<name>` is, for the checker.
HISTORY_FIELDS: dict[str, Type] = {
    "count": NUMBER,
    "previous_type": Optional_(STRING),
    "captured": Optional_(MONEY),
    "last_status_set": Optional_(STRING),
}


class PlannedAction(Protocol):
    """One action of an earlier plan: a stored action (arguments as JSON values) or a planned
    call (arguments as the connector's model made them); both read the same here."""

    @property
    def connector(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def arguments(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class History:
    """`count` earlier events were evaluated; the last was of type `previous_type`. `captured`
    adds up the `sezzle.capture` amounts their plans asked for (missing if none, or if they were
    in more than one currency); `last_status_set` is the `status` of the last `3dcart.set_status`.
    """

    count: int = 0
    previous_type: str | None = None
    captured: Money | None = None
    last_status_set: str | None = None
    mixed_currencies: bool = False

    def after(self, event_type: str, actions: Iterable[PlannedAction]) -> History:
        """This history with one more evaluated event, of `event_type`, whose plan asked for `actions`."""
        captured, mixed, status = self.captured, self.mixed_currencies, self.last_status_set
        for planned in actions:
            if (planned.connector, planned.action) == ("sezzle", "capture"):
                captured, mixed = _add(captured, mixed, planned.arguments.get("amount"))
            elif (planned.connector, planned.action) == ("3dcart", "set_status"):
                status = str(planned.arguments.get("status"))
        return History(self.count + 1, event_type, captured, status, mixed)


EMPTY = History()


def _add(total: Money | None, mixed: bool, amount: Any) -> tuple[Money | None, bool]:
    if isinstance(amount, Mapping):  # as the store keeps it: {"amount": "1.00", "currency": "USD"}
        amount = Money.of(amount["amount"], amount["currency"])
    if mixed or not isinstance(amount, Money):
        return total, mixed
    if total is None:
        return amount, False
    try:
        return total + amount, False
    except CurrencyMismatch:
        return None, True


def history_of(earlier: Iterable[tuple[str, Iterable[PlannedAction]]]) -> History:
    """The history after `earlier`: (event type, planned actions) of each event, in evaluation order."""
    history = EMPTY
    for event_type, actions in earlier:
        history = history.after(event_type, actions)
    return history

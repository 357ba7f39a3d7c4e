"""An Event: one thing that happened in a connected system, in a typed, connector-neutral shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cartwire.core.history import EMPTY, History


@dataclass(frozen=True)
class Event:
    """One incoming fact, as a connector's webhook parser or poller produced it.

    `subject` is the typed payload (for example a 3dcart order) that rules see under the event
    type's subject name (`order`). `entity` names what the event is about (`3dcart:order:5001`):
    the runtime processes the events of one entity one at a time, in order. `dedupe_key` is equal
    for two deliveries of the same fact, so the second one is ignored. `history` is what rules know
    of the entity's earlier events (`history.count`, …): the runtime and replay fill it in before
    evaluating, from the store or the recording (`cartwire.core.history`). `raw` is the event's
    own raw record when it is not in the delivery's body (ShipStation's shipments, fetched from
    the notification's resource_url): the store and recordings keep it, so replay reads what was
    read live without calling the service again.
    """

    source: str
    type: str
    subject: BaseModel
    entity: str
    dedupe_key: str
    occurred_at: datetime
    id: str = ""
    history: History = EMPTY
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def envelope(self) -> dict[str, Any]:
        """The fields rules reach as `event.<name>` besides the subject's own."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "entity": self.entity,
            "occurred_at": self.occurred_at,
        }


@dataclass(frozen=True)
class EventType:
    """What a connector declares about one kind of event it can produce.

    `echo_fields` are the subject fields whose change this event reports (`("status",)` for a
    status change): an event showing exactly what one of our own actions just wrote there is an
    echo of that write and is not evaluated (see `cartwire.core.echo`).
    """

    name: str
    subject: str
    model: type[BaseModel]
    description: str = ""
    echo_fields: tuple[str, ...] = ()

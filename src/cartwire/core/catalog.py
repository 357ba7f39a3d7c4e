"""What the loaded connectors offer, in the rule language's types.

The compiler asks the catalog: what is the subject of `3dcart.order.status_changed` and what
fields does it have? Which connectors offer an action called `capture`, and with which arguments?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cartwire.core.events import EventType
from cartwire.core.types import DATETIME, STRING, Record, Type, type_of_model
from cartwire.plugins.connector import ActionSpec, Connector

ENVELOPE_FIELDS: dict[str, Type] = {
    "id": STRING,
    "type": STRING,
    "source": STRING,
    "entity": STRING,
    "occurred_at": DATETIME,
}


@dataclass(frozen=True)
class EventInfo:
    """An event type with its subject's type, ready for name resolution."""

    connector: str
    spec: EventType
    subject_type: Record

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def subject(self) -> str:
        return self.spec.subject


@dataclass(frozen=True)
class ActionInfo:
    connector: str
    spec: ActionSpec
    argument_types: Record

    @property
    def qualified_name(self) -> str:
        return f"{self.connector}.{self.spec.name}"


class Catalog:
    """Event types and actions of a set of connector instances, keyed for lookup."""

    def __init__(self, connectors: Iterable[Connector], *, unconfigured: Iterable[str] = ()):
        """`unconfigured`: names (and aliases) of connectors that are installed but not in the
        configuration, so that a rule using one is told which `[connectors.NAME]` table to add."""
        self.unconfigured = frozenset(unconfigured)
        self.connectors: dict[str, Connector] = {}
        self.aliases: dict[str, str] = {}
        self.events: dict[str, EventInfo] = {}
        self.actions: dict[tuple[str, str], ActionInfo] = {}
        self._same_subject: dict[str, frozenset[str]] = {}
        for connector in connectors:
            self._add(connector)

    def _add(self, connector: Connector) -> None:
        name = connector.name
        self.connectors[name] = connector
        for alias in (name, *connector.aliases):
            self.aliases[alias] = name
        for spec in connector.event_types():
            if spec.name in self.events:
                raise ValueError(
                    f"event type {spec.name!r} is declared by both {self.events[spec.name].connector} and {name}"
                )
            record = type_of_model(spec.model, connector.enum_values)
            self.events[spec.name] = EventInfo(name, spec, record)
        for action in connector.actions():
            record = type_of_model(action.arguments, connector.enum_values)
            self.actions[(name, action.name)] = ActionInfo(name, action, record)

    def connector_name(self, name_or_alias: str) -> str | None:
        return self.aliases.get(name_or_alias)

    def action(self, connector: str, action: str) -> ActionInfo | None:
        canonical = self.connector_name(connector)
        return None if canonical is None else self.actions.get((canonical, action))

    def actions_named(self, action: str) -> list[ActionInfo]:
        """Every loaded connector's action called `action` (for a bare `then capture`)."""
        return [info for (_, name), info in sorted(self.actions.items()) if name == action]

    def event_type_names(self) -> list[str]:
        return sorted(self.events)

    def same_subject_types(self, event_type: str) -> frozenset[str]:
        """The event types of `event_type`'s connector whose subject is the same model: states of one
        kind of record (a 3dcart order created or changed), not another record about it (a payment)."""
        kinds = self._same_subject.get(event_type)
        if kinds is None:  # asked for every event evaluated: worked out once per type
            info = self.events.get(event_type)
            kinds = frozenset(
                {event_type}
                if info is None
                else (
                    name
                    for name, other in self.events.items()
                    if other.connector == info.connector and other.spec.model is info.spec.model
                )
            )
            self._same_subject[event_type] = kinds
        return kinds

    def missing_table_hint(self, connector: str) -> str | None:
        """`add a [connectors.3dcart] table …` when `connector` is installed but not configured."""
        if connector not in self.unconfigured:
            return None
        return (
            f"the {connector} connector is installed but not configured: "
            f"add a [connectors.{connector}] table to cartwire.toml"
        )

"""The base class every connector (built-in or third-party) derives from.

A connector is a class, registered through the `cartwire_register_connectors` hook. It declares:
its name and aliases, a pydantic `Settings` model (secrets as `SecretStr`), the event types it
produces, the actions it offers (each with a pydantic argument model), how it turns a webhook
delivery into events, and how it performs an action over HTTP.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from cartwire.core.events import Event, EventType


class ConnectorSettings(BaseModel):
    """Base of each connector's settings; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionArguments(BaseModel):
    """Base of each action's argument model."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


@dataclass(frozen=True)
class ActionSpec:
    """One action a connector offers to rules.

    `implicit` maps an argument name to the subject fields it is taken from when a rule leaves it
    out, tried in order: `{"order": ("sezzle_order",), "amount": ("total",)}` makes the bare
    `then capture` of an order event mean "capture this order's Sezzle payment for its total".
    `conflict_key` names the arguments that identify what the action changes (`("order",)` for a
    status change): two rules planning it for the same target with different values conflict,
    and the higher priority wins (see `cartwire.core.conflicts`).
    """

    name: str
    arguments: type[ActionArguments]
    description: str
    moves_money: bool = False
    implicit: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    conflict_key: tuple[str, ...] = ()


class ActionError(Exception):
    """An action failed. `transient` errors are retried; the others need a person."""

    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientError(ActionError):
    """Timeouts, 5xx, 429, connection resets: try again later."""

    transient = True


class PermanentError(ActionError):
    """A business error (over-capture, expired authorization) or a bad request: do not retry."""


class WebhookRejected(Exception):
    """A delivery that must not be accepted; `status` is the HTTP answer (400, 401, 404, 413…)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebhookRequest:
    """One incoming delivery as the intake received it. Header names are lower-case."""

    body: bytes
    headers: Mapping[str, str]
    path_secret: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Connector:
    """Base class of connectors. Subclasses set the class attributes and override the methods."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    secret_path: ClassVar[bool] = False  # webhooks arrive at /hooks/<name>/<secret>

    def __init__(self, settings: ConnectorSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._transport = transport

    # --- declarations -------------------------------------------------------------------
    def event_types(self) -> list[EventType]:
        return []

    def actions(self) -> list[ActionSpec]:
        return []

    def enum_values(self, name: str) -> tuple[str, ...]:
        """Labels of the enum `name` used in this connector's models (see `EnumRef`)."""
        raise LookupError(f"{self.name} knows no enum {name!r}")

    # --- behaviour ----------------------------------------------------------------------
    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        """Authenticate a delivery and turn it into events, or raise `WebhookRejected`."""
        raise WebhookRejected(404, f"{self.name} does not accept webhooks")

    def parse_payload(self, body: bytes, query: Mapping[str, str] | None = None) -> list[Event]:
        """Turn a delivery's body into events WITHOUT authenticating it.

        For replaying recorded or sample deliveries; the intake always calls `parse_webhook`.
        Raises `WebhookRejected(400, ...)` when the body is not this connector's.
        """
        raise WebhookRejected(400, f"{self.name} has no webhook payloads")

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        """Perform `action`; return a JSON-able result or raise an `ActionError`."""
        raise PermanentError(f"{self.name} has no action {action!r}")

    def result_events(self, action: str, result: dict[str, Any], idempotency_key: str) -> list[Event]:
        """Events that a finished action announces to rules (Sezzle: a checkout session and its link).

        The runtime stores them before it marks the action done, so a crash in between repeats the
        action; derive each dedupe key from `idempotency_key` so the repeat announces nothing twice.
        """
        return []

    def prepare(self) -> None:
        """Called once by `cartwire run` before rules are compiled: read what the rules are checked
        against from the live service (3dcart: the store's status table). Raise `ActionError` when the
        service cannot be reached; `run` then keeps the configured values and says so."""

    def close(self) -> None:
        """Release network resources."""

    # --- helpers for subclasses -----------------------------------------------------------
    def http_client(self, base_url: str, **kwargs: Any) -> httpx.Client:
        """An httpx client for `base_url`; tests inject a transport through the constructor."""
        kwargs.setdefault("verify", shared_ssl_context())
        return httpx.Client(base_url=base_url, transport=self._transport, **kwargs)

    def action(self, name: str) -> ActionSpec:
        for spec in self.actions():
            if spec.name == name:
                return spec
        raise LookupError(f"{self.name} has no action {name!r}")


RegisterConnector = Callable[[type[Connector]], None]


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: building it costs tens of milliseconds per client."""
    return httpx.create_ssl_context()

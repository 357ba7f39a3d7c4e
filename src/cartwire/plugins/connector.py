"""The base class every connector (built-in or third-party) derives from.

A connector is a class, registered through the `cartwire_register_connectors` hook. It declares:
its name and aliases, a pydantic `Settings` model (secrets as `SecretStr`), the event types it
produces, the actions it offers (each with a pydantic argument model), how it turns a webhook
delivery into events, how it performs an action over HTTP, and optionally how it polls for what
webhooks missed (`poll`) and how it reads an entity's current state before rules run (`current`).
"""

from __future__ import annotations

import math
import ssl
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cartwire.core.events import Event, EventType
from cartwire.core.ratelimit import LimitedTransport, LimiterRegistry, credentials_digest
from cartwire.plugins.client import ConnectorClient
from cartwire.plugins.policy import RateLimit, Write
from cartwire.plugins.transport import PooledTransport


class ConnectorSettings(BaseModel):
    """Base of each connector's settings; unknown keys are an error, not silently ignored.

    `poll_interval` (seconds) overrides the connector's declared `Connector.poll_interval`;
    0 turns its poller off. Every number must be finite: `nan` and `inf` are refused in each subclass too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    poll_interval: float | None = Field(default=None, ge=0)


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
    `retry` changes the connector's retry defaults for this action (`{"attempts": 3}`);
    `writes(arguments, result)` says what a successful call changed remotely, so that the webhook
    reporting it back is known as our own echo (see `cartwire.plugins.policy`).
    `target(arguments)` names the remote record the action writes (`3dcart:order:AB-1001`), or a
    tuple of the records it writes, from its validated arguments: the runtime never runs two actions
    naming one record at once, even for different entities, and runs them in the order they were
    planned, so a read-then-write of the record cannot lose another's write.
    """

    name: str
    arguments: type[ActionArguments]
    description: str
    moves_money: bool = False
    implicit: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    conflict_key: tuple[str, ...] = ()
    retry: Mapping[str, Any] = field(default_factory=dict)
    writes: Callable[[Mapping[str, Any], Mapping[str, Any]], Write | None] | None = None
    target: Callable[[Any], str | tuple[str, ...]] | None = None


class ActionError(Exception):
    """An action failed. `transient` errors are retried; the others need a person."""

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        throttled: bool | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.code = code  # the service's own error code, when it has one (Sezzle: "invalid")
        # "Too many requests", whatever the status says (QuickBooks' fault 3001 comes with a 403 too): the
        # service asks us to slow down, no failure of the action, so the attempt is given back and the
        # wait is the service's. By default, a 429.
        self.throttled = status == 429 if throttled is None else throttled


class TransientError(ActionError):
    """Timeouts, 5xx, 429, connection resets: try again later."""

    transient = True


class PermanentError(ActionError):
    """A business error (over-capture, expired authorization) or a bad request: do not retry."""


class WebhookRejected(Exception):
    """A delivery that must not be accepted; `status` is the HTTP answer (400, 401, 404, 413…).
    `retry_after` (seconds) is sent as `Retry-After`, for a refusal the sender should try again later."""

    def __init__(self, status: int, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class WebhookRequest:
    """One incoming delivery as the intake received it. Header names are lower-case."""

    body: bytes
    headers: Mapping[str, str]
    path_secret: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Superseded(Exception):
    """Raised by `Connector.current`: the event is overtaken by the entity's current state, so no
    rule may act on it (a late `order.authorized` for an order already captured)."""


class History(Protocol):
    """What the store knows, for a poller deciding what is new (read-only, typed events)."""

    def latest(self, entity: str, types: Collection[str] | None = None) -> Event | None:
        """The stored event of `entity` (of one of `types`, if given) with the latest `occurred_at`, or None."""

    def of_type(self, event_type: str, occurred_after: datetime) -> list[Event]:
        """Stored events of `event_type` that occurred after the given moment, oldest first."""


@dataclass(frozen=True)
class Found:
    """One event a poll found, with the raw record it was read from (kept like a webhook's body)."""

    event: Event
    body: bytes


@dataclass(frozen=True)
class PollResult:
    """What one poll found and where the next one starts.

    `cursor` is opaque text the runtime stores durably and hands to the next `poll`; `rejected`
    lists records that could not be read, as (reason, raw record): they are kept for review.
    """

    found: Sequence[Found]
    cursor: str
    rejected: Sequence[tuple[str, bytes]] = ()


class Connector:
    """Base class of connectors. Subclasses set the class attributes and override the methods."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    secret_path: ClassVar[bool] = False  # webhooks arrive at /hooks/<name>/<secret>
    rate_limit: ClassVar[RateLimit | None] = None  # the service's published limits
    retry_defaults: ClassVar[Mapping[str, Any]] = {}  # RetryPolicy fields this connector changes
    poll_interval: ClassVar[float] = 0.0  # seconds between polls by default; 0: the connector does not poll
    # True when `parse_webhook` never waits on the network or a rate limit: the intake then reads its
    # deliveries on its storing thread, beside the others that arrived with them, instead of each on a
    # thread of its own (which a connector that fetches needs, so that a slow fetch holds up nobody).
    parses_offline: ClassVar[bool] = False

    def __init__(self, settings: ConnectorSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._transport = transport
        self.limiters = LimiterRegistry()
        self.limit: RateLimit | None = self.rate_limit  # `[rate_limit.<name>]` in cartwire.toml may replace it

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

    def poll(self, cursor: str | None, history: History) -> PollResult:
        """List what changed since `cursor` (None on the very first poll) as events with the SAME
        dedupe keys their webhooks carry, so an overlap with a delivered webhook adds nothing.

        Overlap on purpose (start a little before the cursor): duplicates are free, gaps are not.
        Raise `ActionError` when the remote service cannot be read; the runtime tries again at
        the next interval with the old cursor.
        """
        return PollResult((), cursor or "")

    @classmethod
    def polls(cls) -> bool:
        """Whether this connector has a poller (overrides `poll`): only then means `poll_interval` anything."""
        return cls.poll is not Connector.poll

    def polling_interval(self) -> float:
        """Seconds between polls: the `poll_interval` setting if given, else the declared default."""
        configured = self.settings.poll_interval
        return self.poll_interval if configured is None else configured

    def current(self, event: Event, latest: Event | None) -> Event:
        """Called just before rules see `event`: return it as it stands now. The default trusts it.

        `latest` is the already evaluated event of the same entity with the latest `occurred_at`.
        A connector whose events may arrive out of order reads the entity's current state here
        (and returns the event with a refreshed subject), or raises `Superseded` when acting on
        the event would be wrong; an `ActionError` postpones the event (transient) or fails it.
        """
        return event

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

    def credentials_key(self) -> str:
        """Names the credentials requests are made with: each set gets its own rate limiter.

        The default is a digest of every secret setting and the `base_url`; a connector that talks
        to several accounts passes its own key to `http_client(limit_key=...)`.
        """
        secrets = sorted(
            (name, value.get_secret_value()) for name, value in self.settings if isinstance(value, SecretStr)
        )
        return credentials_digest(str(getattr(self.settings, "base_url", "")), *(f"{n}={v}" for n, v in secrets))

    def room(self) -> float:
        """How many requests the rate limit lets through now with the default credentials, without
        waiting (`inf` when the connector has no limit); the runtime starts no more actions than that."""
        if self.limit is None:
            return math.inf
        return self.limiters.get(self.name, self.credentials_key(), self.limit).room()

    # --- helpers for subclasses -----------------------------------------------------------
    def http_client(self, base_url: str, *, limit_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client (a `ConnectorClient`) for `base_url` whose every request keeps within the rate
        limit (waiting when needed); tests inject a transport through the constructor.

        Requests go through `PooledTransport`, or through httpx's own transport where the environment
        names a proxy for them (`HTTPS_PROXY`, `NO_PROXY`...): for `base_url` when the connector has a
        rate limit, else per request, as httpx decides when given no transport."""
        kwargs.setdefault("verify", shared_ssl_context())
        transport = self._transport
        if transport is None and (self.limit is not None or not _proxied()):
            transport = _transport_for(base_url, kwargs["verify"])
        if self.limit is not None:
            assert transport is not None
            limiter = self.limiters.get(self.name, limit_key or self.credentials_key(), self.limit)
            transport = LimitedTransport(limiter, transport)
        return ConnectorClient(base_url=base_url, transport=transport, **kwargs)

    def action(self, name: str) -> ActionSpec:
        for spec in self.actions():
            if spec.name == name:
                return spec
        raise LookupError(f"{self.name} has no action {name!r}")


RegisterConnector = Callable[[type[Connector]], None]


def _proxied() -> bool:
    """Whether the environment names an HTTP proxy (`HTTPS_PROXY` and the like); `PooledTransport`
    speaks to origins directly."""
    return any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))


def _transport_for(base_url: str, verify: ssl.SSLContext | bool | str) -> httpx.BaseTransport:
    """`PooledTransport`, or httpx's transport through the proxy the environment names for `base_url`."""
    proxies = urllib.request.getproxies()
    url = httpx.URL(base_url)
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy is None or (url.host and urllib.request.proxy_bypass(url.host)):
        return PooledTransport(_ssl_context(verify))
    return httpx.HTTPTransport(verify=verify, proxy=proxy)


def _ssl_context(verify: ssl.SSLContext | bool | str) -> ssl.SSLContext:
    """The context for `verify` as httpx takes it: a context, True (the shared default), False, or a CA bundle."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return shared_ssl_context()
    return httpx.create_ssl_context(verify=verify)


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: building it costs tens of milliseconds per client."""
    return httpx.create_ssl_context()

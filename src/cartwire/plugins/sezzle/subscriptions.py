"""Sezzle webhook subscriptions (`/v2/webhooks`), kept so that Cartwire gets the events it needs.

`ensure` is idempotent: a subscription at the URL that already has every needed event is left
alone, one that lacks some is updated (PATCH replaces url and events, so the union is sent), and
only when none exists is one created. Sezzle deletes a subscription after its last failed retry,
so running `cartwire connect sezzle --webhooks` again after an outage restores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from cartwire.plugins import jsonwire
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle.api import SezzleApi

__all__ = ["NEEDED_EVENTS", "Subscription", "SubscriptionChange", "delete", "ensure", "list_subscriptions"]

# The events the webhook parser turns into Cartwire events (see `webhook`).
NEEDED_EVENTS = ("order.authorized", "order.captured", "order.refunded")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Subscription:
    uuid: str
    url: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class SubscriptionChange:
    """What `ensure` did: `created`, `updated` (events added) or `unchanged`."""

    action: Literal["created", "updated", "unchanged"]
    subscription: Subscription


def list_subscriptions(api: SezzleApi) -> list[Subscription]:
    """Every subscription of the account (`GET /v2/webhooks`)."""
    answer = api.call("GET", "/v2/webhooks", "list webhooks")
    if not isinstance(answer, list):
        raise PermanentError(f"Sezzle listed webhooks as {jsonwire.kind(answer)}, not an array")
    return [_subscription(item, f"webhooks[{index}]") for index, item in enumerate(answer)]


def ensure(api: SezzleApi, url: str, events: Sequence[str] = NEEDED_EVENTS) -> SubscriptionChange:
    """Make sure one subscription at `url` covers `events`; create or update only when needed."""
    _check_hook_url(url)
    wanted = tuple(dict.fromkeys(events))
    at_url = [s for s in list_subscriptions(api) if s.url == url]
    for existing in at_url:
        if set(wanted) <= set(existing.events):
            return SubscriptionChange("unchanged", existing)
    if at_url:
        existing = at_url[0]
        union = tuple(dict.fromkeys((*existing.events, *wanted)))
        api.call("PATCH", f"/v2/webhooks/{existing.uuid}", "update webhook", json={"url": url, "events": list(union)})
        return SubscriptionChange("updated", Subscription(existing.uuid, url, union))
    answer = api.call("POST", "/v2/webhooks", "create webhook", json={"url": url, "events": list(wanted)})
    uuid = answer.get("uuid") if isinstance(answer, dict) else None
    if not isinstance(uuid, str) or not uuid:
        raise PermanentError("Sezzle created the webhook subscription but sent no uuid")
    return SubscriptionChange("created", Subscription(uuid, url, wanted))


def _check_hook_url(url: str) -> None:
    """Sezzle delivers to an https:// URL it can reach; plain http only to this machine (an emulator).

    A user name or password in the URL is refused (and not repeated): Sezzle would keep it, and
    `connect` prints the URL it subscribed."""
    try:
        parts = urlsplit(url)
        local = parts.hostname in _LOOPBACK
    except ValueError:  # a port that is not a number, an unclosed [
        parts, local = None, False
    if parts is None or not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        shown = "the URL given" if "@" in url else url  # a user name or password is never repeated
        raise PermanentError(f"the webhook URL must be an https:// URL that Sezzle can reach, got {shown[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise PermanentError("the webhook URL must not carry a user name or password (Sezzle signs its deliveries)")


def delete(api: SezzleApi, uuid: str) -> None:
    """`DELETE /v2/webhooks/{uuid}` (204)."""
    if not uuid or not all(c.isalnum() or c in "-_" for c in uuid):
        raise PermanentError(f"not a Sezzle webhook uuid: {uuid!r}")
    api.call("DELETE", f"/v2/webhooks/{uuid}", "delete webhook")


def _subscription(item: Any, where: str) -> Subscription:
    if not isinstance(item, dict):
        raise PermanentError(f"Sezzle sent {where} as {jsonwire.kind(item)}, not an object")
    uuid, url, events = item.get("uuid"), item.get("url"), item.get("events")
    if not isinstance(uuid, str) or not isinstance(url, str) or not isinstance(events, list):
        raise PermanentError(f"Sezzle sent {where} without a uuid, url or events list")
    return Subscription(uuid, url, tuple(str(event) for event in events))

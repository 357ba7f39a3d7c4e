"""The outgoing webhook: POST a rule-rendered JSON body, signed, to a destination named in configuration.

Rules name a destination (`webhook.post(destination: zapier, body: "…")`), never a URL, so no
request can go anywhere the configuration did not list; `cartwire check` refuses an unknown name.
Redirects are followed only when they are 307/308 and stay on a configured destination's origin.
A retry sends the same body and `Idempotency-Key`, with a fresh timestamp and signature.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import httpx

from cartwire.plugins.connector import (
    ActionArguments,
    ActionSpec,
    Connector,
    ConnectorSettings,
    PermanentError,
    TransientError,
)
from cartwire.plugins.retry_after import retry_after_seconds
from cartwire.plugins.webhook.models import Destination, PostArguments, WebhookSettings
from cartwire.plugins.webhook.signing import signature

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_REDIRECTS = 3
POST = ActionSpec(
    "post",
    PostArguments,
    "POST a JSON body (a template) to a destination named in the configuration, signed with its secret.",
)


class Webhook(Connector):
    """Generic outgoing HTTP: Zapier, Make, anything with a URL that the configuration names."""

    name: ClassVar[str] = "webhook"
    Settings: ClassVar[type[ConnectorSettings]] = WebhookSettings

    def __init__(
        self,
        settings: ConnectorSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ):
        settings = settings or WebhookSettings()
        if not isinstance(settings, WebhookSettings):
            raise TypeError(f"webhook needs WebhookSettings, got {type(settings).__name__}")
        super().__init__(settings, transport=transport)
        self.settings: WebhookSettings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None

    def actions(self) -> list[ActionSpec]:
        return [POST]

    def enum_values(self, name: str) -> tuple[str, ...]:
        if name == "destination":
            return tuple(sorted(self.settings.destinations))
        return super().enum_values(name)

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        if action != POST.name:
            return super().execute(action, arguments, idempotency_key)
        if not isinstance(arguments, PostArguments):
            raise PermanentError(f"webhook.post expects PostArguments, got {type(arguments).__name__}")
        destination = self.settings.destinations.get(arguments.destination)
        if destination is None:
            known = ", ".join(sorted(self.settings.destinations)) or "none"
            raise PermanentError(f"no webhook destination named {arguments.destination!r} (configured: {known})")
        body = arguments.body.encode()
        stamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            self.settings.timestamp_header: str(stamp),
            self.settings.signature_header: signature(destination.secret.get_secret_value(), stamp, body),
        }
        response = self._post(destination, arguments.destination, body, headers)
        return {"destination": arguments.destination, "status": response.status_code}

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._http = None

    # --- plumbing -----------------------------------------------------------------------------
    def _post(self, destination: Destination, name: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        url = destination.url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(url, name, body, headers)
            if response.status_code not in (307, 308):
                _raise_for_status(response, name)
                return response
            url = self._listed_redirect(url, response, name)
        raise PermanentError(f"webhook destination {name!r} redirected more than {MAX_REDIRECTS} times")

    def _listed_redirect(self, url: str, response: httpx.Response, name: str) -> str:
        target: str = urljoin(url, response.headers.get("Location", ""))
        origins = {_origin(d.url) for d in self.settings.destinations.values()}
        if _origin(target) not in origins:
            host = urlsplit(target).hostname or "?"
            raise PermanentError(
                f"webhook destination {name!r} redirected to {host!r}, which no destination names; not followed",
                status=response.status_code,
            )
        return target

    def _send(self, url: str, name: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            return self._client().post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise TransientError(f"webhook destination {name!r} did not answer in time") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach webhook destination {name!r}: {type(error).__name__}") from None

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = self.http_client("", timeout=self.settings.timeout, follow_redirects=False)
            return self._http


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _raise_for_status(response: httpx.Response, name: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"webhook destination {name!r} answered {status}"
    if status in (408, 429) or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise TransientError(what, status=status, retry_after=retry_after)
    raise PermanentError(f"{what}: {response.text.strip()[:200]}" if response.text.strip() else what, status=status)

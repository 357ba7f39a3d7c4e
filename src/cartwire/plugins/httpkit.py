"""Webhook helpers: the URL-secret check for services that sign nothing, and pydantic errors as a reason.

Services that sign nothing (3dcart, ShipStation) are protected by a secret in the webhook URL
(`/hooks/<name>/<secret>`), compared in constant time.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr, ValidationError

from cartwire.plugins.connector import WebhookRejected

__all__ = ["check_url_secret", "describe"]


def check_url_secret(configured: SecretStr, given: str | None, *, service: str) -> None:
    """Accept only the configured secret; with none configured, accept nothing (403)."""
    expected = configured.get_secret_value().encode()
    if not expected:
        raise WebhookRejected(403, f"{service} webhooks are disabled: the webhook_secret setting is empty")
    if given is None or not hmac.compare_digest(expected, given.encode()):
        raise WebhookRejected(401, f"the secret in the {service} webhook URL is missing or wrong")


def describe(error: ValidationError) -> str:
    """Pydantic's errors as `Field.Sub[0]: problem`, without echoing the input values."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        problems.append(f"{path} is missing" if item["type"] == "missing" else f"{path}: {item['msg']}")
    return "; ".join(problems)

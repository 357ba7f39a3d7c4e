"""Small pieces every HTTP connector needs: the URL-secret check and reading `Retry-After`.

Services that sign nothing (3dcart, ShipStation) are protected by a secret in the webhook URL
(`/hooks/<name>/<secret>`), compared in constant time.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from cartwire.core.ratelimit import retry_after_seconds
from cartwire.plugins.connector import WebhookRejected

__all__ = ["check_url_secret", "retry_after_seconds"]


def check_url_secret(configured: SecretStr, given: str | None, *, service: str) -> None:
    """Accept only the configured secret; with none configured, accept nothing (403)."""
    expected = configured.get_secret_value().encode()
    if not expected:
        raise WebhookRejected(403, f"{service} webhooks are disabled: the webhook_secret setting is empty")
    if given is None or not hmac.compare_digest(expected, given.encode()):
        raise WebhookRejected(401, f"the secret in the {service} webhook URL is missing or wrong")

"""Small pieces every HTTP connector needs: the URL-secret check and reading `Retry-After`.

Services that sign nothing (3dcart, ShipStation) are protected by a secret in the webhook URL
(`/hooks/<name>/<secret>`), compared in constant time.
"""

from __future__ import annotations

import email.utils
import hmac
from datetime import UTC, datetime

from pydantic import SecretStr

from cartwire.plugins.connector import WebhookRejected


def check_url_secret(configured: SecretStr, given: str | None, *, service: str) -> None:
    """Accept only the configured secret; with none configured, accept nothing (403)."""
    expected = configured.get_secret_value().encode()
    if not expected:
        raise WebhookRejected(403, f"{service} webhooks are disabled: the webhook_secret setting is empty")
    if given is None or not hmac.compare_digest(expected, given.encode()):
        raise WebhookRejected(401, f"the secret in the {service} webhook URL is missing or wrong")


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: either delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

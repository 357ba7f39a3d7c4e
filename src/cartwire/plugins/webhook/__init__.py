"""The built-in outgoing webhook connector: signed JSON POSTs to destinations named in configuration."""

from __future__ import annotations

from cartwire.plugins.connector import RegisterConnector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.webhook.connector import Webhook
from cartwire.plugins.webhook.models import Destination, PostArguments, WebhookSettings

__all__ = ["Destination", "PostArguments", "Webhook", "WebhookSettings", "cartwire_register_connectors"]


@hookimpl
def cartwire_register_connectors(register: RegisterConnector) -> None:
    register(Webhook)

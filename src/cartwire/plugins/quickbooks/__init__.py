"""The built-in QuickBooks Online connector and, in `.emulator`, a local QuickBooks for tests."""

from __future__ import annotations

from cartwire.plugins.connector import RegisterConnector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.quickbooks.connector import QuickBooks
from cartwire.plugins.quickbooks.models import QuickBooksSettings

__all__ = ["QuickBooks", "QuickBooksSettings", "cartwire_register_connectors"]


@hookimpl
def cartwire_register_connectors(register: RegisterConnector) -> None:
    register(QuickBooks)

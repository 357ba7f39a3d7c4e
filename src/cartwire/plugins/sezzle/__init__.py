"""The built-in Sezzle connector (API v2) and, in `.emulator`, a local Sezzle for tests and the demo."""

from __future__ import annotations

from cartwire.plugins.connector import RegisterConnector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.sezzle.connector import Sezzle
from cartwire.plugins.sezzle.models import SezzleOrder, SezzleSettings

__all__ = ["Sezzle", "SezzleOrder", "SezzleSettings", "cartwire_register_connectors"]


@hookimpl
def cartwire_register_connectors(register: RegisterConnector) -> None:
    register(Sezzle)

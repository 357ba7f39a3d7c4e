"""The built-in ShipStation connector (API v1) and, in `.emulator`, a local ShipStation for tests."""

from __future__ import annotations

from cartwire.plugins.connector import RegisterConnector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.shipstation.connector import ShipStation
from cartwire.plugins.shipstation.models import Shipment, ShipStationSettings

__all__ = ["ShipStation", "ShipStationSettings", "Shipment", "cartwire_register_connectors"]


@hookimpl
def cartwire_register_connectors(register: RegisterConnector) -> None:
    register(ShipStation)

"""The built-in 3dcart (Shift4Shop) connector plugin."""

from __future__ import annotations

from cartwire.plugins.connector import RegisterConnector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.threedcart.connector import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.threedcart.models import Address, Item, Order

__all__ = ["Address", "Item", "Order", "ThreeDCart", "ThreeDCartSettings", "cartwire_register_connectors"]


@hookimpl
def cartwire_register_connectors(register: RegisterConnector) -> None:
    register(ThreeDCart)

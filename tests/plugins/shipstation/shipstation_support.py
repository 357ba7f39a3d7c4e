"""Shared by the ShipStation tests: the recorded samples, credentials, a store order to push, a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cartwire.demo import sample_order
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.plugins.shipstation.models import PushOrderArguments
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, jsonwire

DATA = Path(__file__).parents[2] / "data" / "shipstation"
KEY, SECRET, HOOK_SECRET = "ss_test_key", "ss_test_secret", "hook-secret-0123456789"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def store_order(**overrides: Any) -> PushOrderArguments:
    """The packaged 3dcart sample order (OrderID 5001, AB-1001) as the store connector reads it."""
    cart = ThreeDCart(ThreeDCartSettings())
    [event] = cart.parse_payload(jsonwire.dumps([sample_order("order-new.json", **overrides)]), {"event": "created"})
    return PushOrderArguments.model_validate({"order": event.subject})


class FakeTime:
    """The limiter's monotonic clock; sleeping moves the emulator's clock as far."""

    def __init__(self, emulator: ShipStationEmulator) -> None:
        self.emulator = emulator
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept.append(seconds)
        self.emulator.advance(timedelta(seconds=seconds))

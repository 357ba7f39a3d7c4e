"""Constants and sample loaders shared by the 3dcart tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cartwire.plugins.threedcart import jsonwire

SAMPLES = Path(__file__).parents[2] / "data" / "3dcart"
SECURE_URL = "store.example.test"
PRIVATE_KEY = "pk-3f9a77c2e1"
TOKEN = "tok-b81d0e55aa"
WEBHOOK_SECRET = "hook-5e1c9d2b7f"
# A rule that plans one action per status change to Shipped: it counts evaluations.
NOTE_SHIPPED = """
rule "note shipped orders"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then 3dcart.add_comment(text: "shipped")
end
"""


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_order(name: str) -> dict[str, Any]:
    """The single order of a sample body, numbers as Decimal."""
    [order] = jsonwire.loads(sample_bytes(name))
    return order

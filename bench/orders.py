"""The benchmarks' data: the real 3dcart connector and its `Order` subject, and seeded random orders.

The store's status table gets `Stage0` … `Stage999` besides the standard labels, so that 1,000
rules can each test a different status.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from cartwire.core.catalog import Catalog
from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.plugins.threedcart.connector import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.threedcart.models import STANDARD_STATUSES, Address, Order
from cartwire.plugins.threedcart.webhook import STATUS_CHANGED

STAGES = tuple(f"Stage{i}" for i in range(1000))
EXAMPLE = "@example.com"
_OTHER_STATUSES = tuple(label for label in STANDARD_STATUSES.values() if label != "Shipped")
_WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def catalog() -> Catalog:
    statuses = dict(STANDARD_STATUSES) | {100 + i: label for i, label in enumerate(STAGES)}
    return Catalog([ThreeDCart(ThreeDCartSettings(statuses=statuses))])


def _order(number: int, status: str, total: Decimal, email: str) -> Order:
    usd = Money(total, "USD")
    zero = Money(Decimal(0), "USD")
    return Order(
        id=number,
        invoice_number=f"AB-{number}",
        status=status,
        status_id=4,
        total=usd,
        subtotal=usd,
        tax=zero,
        shipping=zero,
        discount=zero,
        payment_method="Sezzle",
        sezzle_order=f"sz-{number}",
        customer_id=number,
        email=email,
        billing=Address(email=email),
        shipping_address=Address(),
        items=[],
        tracking_codes=[],
        created_at=_WHEN,
        updated_at=_WHEN,
    )


def event(number: int, status: str, total: Decimal, email: str) -> Event:
    return Event(
        source="3dcart",
        type=STATUS_CHANGED,
        subject=_order(number, status, total, email),
        entity=f"3dcart:order:{number}",
        dedupe_key=f"3dcart:order:{number}",
        occurred_at=_WHEN,
    )


def mixed_events(count: int, seed: int = 3) -> list[Event]:
    """Orders where each test of the benchmark condition is true about half the time, so that
    every conjunct is reached on some events and short-circuiting is not the whole story.
    """
    pick = random.Random(seed)  # noqa: S311 -- test data, not secrets
    return [
        event(
            number,
            "Shipped" if pick.random() < 0.5 else pick.choice(_OTHER_STATUSES),
            Decimal(pick.randrange(0, 10_000)) / 100,
            f"buyer{number}{EXAMPLE if pick.random() < 0.5 else '@example.org'}",
        )
        for number in range(count)
    ]

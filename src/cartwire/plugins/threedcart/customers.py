"""Customers: the account behind an order, and the names of its group, so rules can test "VIP".

A 3dcart customer belongs to one group (`CustomerGroupID`, 0 for none). The group's name comes from
the connector's `customer_groups` table, which `GET /CustomerGroups` refreshes when the store answers
it; 3dcart does not document that list's fields, so the name is read from `Name`, `GroupName` or
`CustomerGroupName`, whichever is there. A group ID the table does not name gives no name (it is
not guessed); `group_id` still carries it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.models import Customer
from cartwire.plugins.threedcart.wire import WireCustomer, WireCustomerGroup


def find_by_email(client: ThreeDCartClient, email: str) -> list[WireCustomer]:
    """The store's accounts with this email (3dcart does not promise it is unique), case ignored."""
    wanted = email.strip().casefold()
    if not wanted:
        return []
    rows = client.get_all("/Customers", {"email": email.strip()}, page_size=500)
    return [c for c in map(WireCustomer.model_validate, rows) if c.Email.strip().casefold() == wanted]


def lookup(client: ThreeDCartClient, customer_id: int, email: str, groups: Mapping[int, str]) -> Customer:
    """The order's customer: by CustomerID when it has one, else (a guest checkout) by email."""
    if customer_id:
        accounts = [WireCustomer.model_validate(row) for row in client.get_rows(f"/Customers/{customer_id}")]
    else:
        accounts = find_by_email(client, email)
    group_ids = sorted({a.CustomerGroupID for a in accounts if a.CustomerGroupID})
    return Customer(
        id=accounts[0].CustomerID if accounts else customer_id,
        email=accounts[0].Email if accounts else email,
        group_id=group_ids[0] if group_ids else 0,
        groups=[groups[g] for g in group_ids if g in groups],
        looked_up=True,
    )


def read_groups(client: ThreeDCartClient) -> dict[int, str]:
    """The store's group table (`GET /CustomerGroups`), ID -> name; rows without a name are left out."""
    table = {}
    for group in map(WireCustomerGroup.model_validate, client.get_all("/CustomerGroups", {}, page_size=500)):
        if group.label:
            table[group.CustomerGroupID] = group.label
    return table


class CustomerCache:
    """Customers looked up in the last `ttl` seconds, by CustomerID (or email for a guest): a burst of
    one customer's orders costs one request, and a changed group is seen within `ttl`."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._clock = ttl, clock
        self._entries: dict[tuple[int, str], tuple[float, Customer]] = {}
        self._lock = threading.Lock()

    def get(self, customer_id: int, email: str, read: Callable[[], Customer]) -> Customer:
        key = (customer_id, "" if customer_id else email.strip().casefold())
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        customer = read()
        with self._lock:
            self._entries[key] = (now, customer)
        return customer

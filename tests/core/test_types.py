from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel

from cartwire.core.money import Money
from cartwire.core.types import (
    BOOL,
    DATETIME,
    MONEY,
    NUMBER,
    STRING,
    EnumRef,
    EnumType,
    ListType,
    Optional_,
    Record,
    type_of_model,
)


class Item(BaseModel):
    sku: str
    quantity: Decimal


class Order(BaseModel):
    id: int
    paid: bool
    total: Money
    status: Annotated[str, EnumRef("order_status")]
    created_at: datetime
    note: str | None
    items: list[Item]


def test_pydantic_models_become_rule_types():
    record = type_of_model(Order, lambda name: ("New", "Shipped") if name == "order_status" else ())
    assert record.fields["id"] == NUMBER
    assert record.fields["paid"] == BOOL
    assert record.fields["total"] == MONEY
    assert record.fields["created_at"] == DATETIME
    assert record.fields["status"] == EnumType("order_status", ("New", "Shipped"))
    assert record.fields["note"] == Optional_(STRING)
    items = record.fields["items"]
    assert isinstance(items, ListType)
    assert isinstance(items.item, Record)
    assert items.item.fields == {"sku": STRING, "quantity": NUMBER}

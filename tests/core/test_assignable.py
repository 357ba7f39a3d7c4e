"""A record fits where another record is wanted when it has every wanted field (action arguments)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from cartwire.core.checker import assignable, compatible
from cartwire.core.money import Money
from cartwire.core.types import ListType, Optional_, type_of_model


class Wanted(BaseModel):
    sku: str
    price: Money


class Richer(BaseModel):
    sku: str
    price: Money
    stock: Decimal


class Poorer(BaseModel):
    sku: str


class WrongType(BaseModel):
    sku: str
    price: Decimal


def test_a_record_with_every_wanted_field_fits_in_lists_and_optionals():
    wanted, richer = type_of_model(Wanted), type_of_model(Richer)
    assert assignable(richer, wanted)
    assert assignable(ListType(richer), ListType(wanted))
    assert assignable(Optional_(ListType(richer)), ListType(wanted))
    assert not compatible(richer, wanted)  # comparing them is still an error


def test_a_missing_field_or_a_field_of_another_type_does_not_fit():
    wanted = type_of_model(Wanted)
    assert not assignable(type_of_model(Poorer), wanted)
    assert not assignable(type_of_model(WrongType), wanted)
    assert not assignable(ListType(type_of_model(Poorer)), ListType(wanted))

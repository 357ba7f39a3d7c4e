from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from cartwire.core.money import CurrencyMismatch, Money, exponent

amounts = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, allow_infinity=False, places=3
)
currencies = st.sampled_from(["USD", "JPY", "KWD", "EUR", "CLF"])


@pytest.mark.parametrize(("currency", "digits"), [("JPY", 0), ("USD", 2), ("KWD", 3), ("EUR", 2)])
def test_exponent_follows_iso_4217(currency, digits):
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("108.91", "USD", 10891),
        ("108.905", "USD", 10891),
        ("108.904", "USD", 10890),
        ("-0.005", "USD", -1),
        ("1000.5", "JPY", 1001),
        ("1.2345", "KWD", 1235),
        ("0", "USD", 0),
    ],
)
def test_to_minor_rounds_half_up_once(amount, currency, minor):
    assert Money.of(amount, currency).to_minor() == minor


@given(st.integers(min_value=-(10**12), max_value=10**12), currencies)
def test_minor_units_round_trip(units, currency):
    assert Money.from_minor(units, currency).to_minor() == units


@given(amounts, amounts, currencies)
def test_addition_and_subtraction_are_exact(a, b, currency):
    total = Money.of(a, currency) + Money.of(b, currency)
    assert total.amount == a + b
    assert (total - Money.of(b, currency)).amount == a


def test_mixing_currencies_is_refused():
    with pytest.raises(CurrencyMismatch, match="USD with EUR"):
        Money.of("1", "USD") + Money.of("1", "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money.of("1", "USD") < Money.of("2", "JPY")


def test_floats_and_bad_codes_are_refused():
    with pytest.raises(TypeError, match="never floats"):
        Money.of(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO 4217"):
        Money.of("1", "usd")
    with pytest.raises(ValueError, match="finite"):
        Money.of("NaN", "USD")


def test_money_in_pydantic_models_round_trips_through_json():
    class Payment(BaseModel):
        amount: Money

    payment = Payment(amount=Money.of("108.91", "USD"))
    dumped = payment.model_dump_json()
    assert dumped == '{"amount":{"amount":"108.91","currency":"USD"}}'
    assert Payment.model_validate_json(dumped) == payment


@pytest.mark.parametrize("amount", ["1e26", "-1e26", "1e999", "1e18"])
def test_amounts_that_do_not_fit_minor_units_are_refused(amount):
    with pytest.raises(ValueError, match="too large"):
        Money.of(amount, "USD")
    with pytest.raises(ValueError, match="too large"):
        Money.from_minor(int(Decimal(amount)) * 10**4, "CLF")


@given(st.decimals(min_value=Decimal("-1e18"), max_value=Decimal("1e18"), allow_nan=False, places=4), currencies)
def test_every_accepted_amount_converts_to_minor_units(amount, currency):
    if abs(amount) < Decimal("1e18"):
        minor = Money.of(amount, currency).to_minor()
        assert abs(minor - amount.scaleb(exponent(currency))) <= Decimal("0.5")

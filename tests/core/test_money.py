from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from cartwire.core.currency import RateTable
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


# --- minor units, allocation and conversion: properties --------------------------------------------

exponents = st.sampled_from([("JPY", 0), ("USD", 2), ("KWD", 3), ("CLF", 4)])
exact = st.decimals(
    min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False, allow_infinity=False, places=6
)


@given(exact, exponents)
def test_to_minor_is_the_nearest_unit_with_halves_away_from_zero(amount, code):
    currency, digits = code
    minor = Money.of(amount, currency).to_minor()
    units = amount.scaleb(digits)  # the amount in (fractional) minor units
    assert abs(units - minor) <= Decimal("0.5")
    if abs(units - minor) == Decimal("0.5"):  # a tie: rounded away from zero, as half-up means for money
        assert abs(minor) > abs(units)
    assert Money.of(-amount, currency).to_minor() == -minor


@given(st.lists(exact, min_size=1, max_size=6), exponents)
def test_parts_rounded_one_by_one_stay_within_half_a_unit_each_of_the_rounded_total(parts, code):
    currency, _ = code
    total = sum((Money.of(p, currency) for p in parts[1:]), Money.of(parts[0], currency))
    drift = abs(sum(Money.of(p, currency).to_minor() for p in parts) - total.to_minor())
    assert drift <= (len(parts) + 1) / 2  # why a rule checks that the parts still add up


@given(exact, st.lists(st.integers(0, 1000), min_size=1, max_size=8).filter(any), exponents)
def test_allocate_splits_into_whole_units_that_add_up_to_the_rounded_total(amount, weights, code):
    currency, _ = code
    money = Money.of(abs(amount), currency)
    shares = money.allocate(weights)
    assert sum(s.to_minor() for s in shares) == money.to_minor()
    assert all(s.round() == s for s in shares)
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):  # each within one unit of its exact part
        assert abs(Decimal(share.to_minor()) - Decimal(money.to_minor()) * weight / whole) < 1


@given(exact, st.sampled_from(["USD", "EUR", "JPY"]), st.sampled_from(["USD", "EUR", "JPY"]))
def test_mixing_currencies_is_refused_by_every_operation(amount, first, second):
    a, b = Money.of(amount, first), Money.of("1", second)
    operations = [lambda: a + b, lambda: a - b, lambda: a < b, lambda: a <= b, lambda: a > b, lambda: a >= b]
    for operation in operations:
        if first == second:
            operation()
        else:
            with pytest.raises(CurrencyMismatch):
                operation()


rates = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=4, allow_nan=False)


@given(exact, rates)
def test_conversion_uses_the_configured_rate_both_ways_and_nothing_else(amount, rate):
    table = RateTable.parse({"USD/JPY": str(rate)})
    dollars = Money.of(amount, "USD")
    yen = table.convert(dollars, "JPY")
    assert yen == Money(amount * rate, "JPY")
    back = table.convert(yen, "USD")
    assert abs(back.amount - amount) <= abs(amount) * Decimal("1e-20") + Decimal("1e-20")
    assert table.convert(dollars, "USD") == dollars
    with pytest.raises(ValueError, match='add "USD/EUR" to \\[rates\\]'):
        table.convert(dollars, "EUR")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"USD-EUR": "0.9"}, "write the pair as two currency codes"),
        ({"USD/EUR": 0.9}, "write the rate as a string"),
        ({"USD/EUR": "-1"}, "the rate must be a positive number"),
        ({"usd/EUR": "1"}, "write the pair as two currency codes"),
    ],
)
def test_a_bad_rate_table_names_the_entry(raw, problem):
    with pytest.raises(ValueError, match=problem):
        RateTable.parse(raw)


@pytest.mark.parametrize("code", ["USD\n", "usd", "US", "USDX", " USD"])
def test_a_currency_code_is_exactly_three_capital_letters(code):
    with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
        Money(Decimal(1), code)
    Money(Decimal(1), "USD")  # remembering the codes seen lets no malformed one through
    with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
        Money(Decimal(1), code)

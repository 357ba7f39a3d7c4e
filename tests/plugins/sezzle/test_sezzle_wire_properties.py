"""Properties of the wire helpers: Price round trips and signatures that notice any change."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cartwire.core.money import Money, exponent
from cartwire.plugins.sezzle.signing import sign, signature_matches
from cartwire.plugins.sezzle.wire import money_from_price, price

currencies = st.sampled_from(["USD", "CAD", "JPY", "KWD", "BHD", "EUR"])


@given(cents=st.integers(0, 10**12), currency=currencies)
def test_price_round_trips_minor_units(cents: int, currency: str) -> None:
    money = Money.from_minor(cents, currency)
    wire = price(money)
    assert wire == {"amount_in_cents": cents, "currency": currency}
    assert money_from_price(wire, "p") == money


@given(amount=st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False), currency=currencies)
def test_price_rounds_half_up_once_to_the_currency_exponent(amount: Decimal, currency: str) -> None:
    cents = price(Money.of(amount, currency))["amount_in_cents"]
    exact = amount.scaleb(exponent(currency))
    assert isinstance(cents, int)
    assert exact - Decimal("0.5") <= cents <= exact + Decimal("0.5")
    assert cents != exact - Decimal("0.5")  # a half rounds up, never down


@given(body=st.binary(min_size=1, max_size=300), key=st.text(min_size=1, max_size=40), index=st.data())
def test_any_changed_byte_breaks_the_signature(body: bytes, key: str, index: st.DataObject) -> None:
    signature = sign(body, key)
    assert signature == signature.lower()
    assert len(signature) == 64
    assert signature_matches(body, key, signature)
    assert signature_matches(body, key, signature.upper())
    position = index.draw(st.integers(0, len(body) - 1))
    changed = bytearray(body)
    changed[position] ^= 0x01
    assert not signature_matches(bytes(changed), key, signature)

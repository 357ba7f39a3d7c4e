"""Money as Decimal plus an ISO 4217 currency; never a float.

Conversion to minor units follows the currency's exponent (JPY 0, USD 2, KWD 3) and rounds
half-up once, at the edge of the system.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

# ISO 4217 minor-unit exponents that differ from 2; every other valid code uses 2.
_EXPONENTS = {
    "BHD": 3,
    "BIF": 0,
    "CLF": 4,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "UYW": 4,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}
_CODE = re.compile(r"[A-Z]{3}")
# The largest magnitude an amount may have: far beyond any order, and small enough that the amount
# in minor units (up to 4 digits) fits the 28 significant digits of Decimal's default context, so
# `to_minor` and sums of a few amounts never raise `decimal.InvalidOperation`.
LIMIT = Decimal(10) ** 18


class CurrencyMismatch(ValueError):
    """Raised when two amounts of different currencies meet in one operation."""


class AmountTooLarge(ValueError):
    """Raised when an amount (written, or computed by arithmetic) reaches `LIMIT` in magnitude."""


def exponent(currency: str) -> int:
    """Number of minor-unit digits of `currency` (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(check_currency(currency), 2)


_CHECKED: set[str] = set()  # the codes `check_currency` has accepted: at most 26**3


def check_currency(currency: str) -> str:
    if type(currency) is str and currency in _CHECKED:  # every amount is checked: the few codes in use are known
        return currency
    if not isinstance(currency, str) or not _CODE.fullmatch(currency):
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    if type(currency) is str:
        _CHECKED.add(currency)
    return currency


def _factor(value: Decimal | int) -> Decimal:
    """A multiplier or divisor of money: an exact number, never a float or another amount."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money can only be multiplied or divided by a number, not {type(value).__name__}")
    return Decimal(value)


def _decimal(value: Decimal | int | str) -> Decimal:
    if type(value) is Decimal:  # the usual case, from the wire's parser or arithmetic
        return check_amount(value)
    if isinstance(value, float):
        raise TypeError("money amounts are never floats; pass a Decimal or a string")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    return check_amount(result)


def check_amount(amount: Decimal) -> Decimal:
    """`amount` itself if it is finite and below `LIMIT` in magnitude, else a ValueError."""
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount}")
    if abs(amount) >= LIMIT:
        raise AmountTooLarge(f"amount is too large (its magnitude must be below {LIMIT:.0E})")
    return amount


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _decimal(self.amount))
        check_currency(self.currency)

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        return cls(_decimal(amount), currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """`Money.from_minor(10891, "USD")` is 108.91 USD."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"minor units must be an int, got {units!r}")
        return cls(Decimal(units).scaleb(-exponent(currency)), currency)

    def to_minor(self) -> int:
        """Integer minor units, rounded half-up once (108.905 USD -> 10891)."""
        quantum = Decimal(1).scaleb(-exponent(self.currency))
        return int(self.amount.quantize(quantum, rounding=ROUND_HALF_UP).scaleb(exponent(self.currency)))

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        """Exact: `33.335 USD * 3` stays 100.005 USD until `to_minor` rounds it once."""
        return Money(self.amount * _factor(factor), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor: Decimal | int) -> Money:
        divisor = _factor(divisor)
        if divisor == 0:
            raise ZeroDivisionError(f"cannot divide {self} by zero")
        return Money(self.amount / divisor, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def round(self) -> Money:
        """This amount rounded half-up to whole minor units (1.005 USD -> 1.01 USD)."""
        return Money.from_minor(self.to_minor(), self.currency)

    def allocate(self, weights: Sequence[Decimal | int]) -> list[Money]:
        """Split this amount (rounded to minor units) in proportion to `weights`, in whole minor
        units that add up to exactly the rounded total: the largest-remainder method.

        `Money.of("100", "USD").allocate([1, 1, 1])` is 33.34, 33.33 and 33.33 USD. Ties in the
        remainders go to the earlier part, so the result is deterministic.
        """
        parts = [_factor(w) for w in weights]
        if not parts:
            raise ValueError("allocate needs at least one weight")
        if any(w < 0 for w in parts) or sum(parts) == 0:
            raise ValueError("allocate needs weights that are not negative and not all zero")
        total, whole = self.to_minor(), sum(parts)
        exact = [Decimal(total) * w / whole for w in parts]
        shares = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
        left = total - sum(shares)
        by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - shares[i]), i))
        for index in by_remainder[:left]:
            shares[index] += 1
        return [Money.from_minor(share, self.currency) for share in shares]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        """Validate from a Money or {"amount": "1.00", "currency": "USD"}; dump to the latter."""

        def validate(value: Any) -> Money:
            if isinstance(value, Money):
                return value
            if isinstance(value, dict) and set(value) == {"amount", "currency"}:
                return Money.of(value["amount"], value["currency"])
            raise ValueError("expected money as {'amount': '<decimal>', 'currency': '<ISO 4217>'}")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda m: {"amount": str(m.amount), "currency": m.currency}
            ),
        )


def at_least_one_minor_unit(value: Money) -> Money:
    """A pydantic field validator for an amount of money that moves or is recorded as moved: a capture,
    a refund, a payment written on an order. Nothing, or less, is a mistake upstream."""
    if value.to_minor() <= 0:
        raise ValueError(f"amount must be at least one minor unit of {value.currency}, got {value}")
    return value

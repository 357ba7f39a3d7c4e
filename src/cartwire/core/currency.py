"""Currency conversion with a fixed rate table from the configuration; nothing is fetched.

```toml
[rates]
"USD/EUR" = "0.92"   # 1 USD is 0.92 EUR
```

A rate also converts the other way (1 EUR is 1 / 0.92 USD) unless that direction has its own
entry. There is no conversion through a third currency: list each pair a rule needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from cartwire.core.money import Money, check_currency


@dataclass(frozen=True)
class RateTable:
    """Exchange rates: `rates[("USD", "EUR")]` is the EUR amount of 1 USD."""

    rates: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, object], where: str = "[rates]") -> RateTable:
        """Read `{"USD/EUR": "0.92"}`; a ValueError names the bad entry."""
        rates: dict[tuple[str, str], Decimal] = {}
        for pair, value in raw.items():
            source, slash, target = pair.partition("/")
            try:
                check_currency(source)
                check_currency(target)
            except ValueError:
                slash = ""
            if not slash:
                raise ValueError(f'{where} "{pair}": write the pair as two currency codes, such as "USD/EUR"')
            if isinstance(value, float):
                raise ValueError(f'{where} "{pair}": write the rate as a string, such as "0.92", so it stays exact')
            try:
                rate = Decimal(str(value))
            except InvalidOperation:
                rate = Decimal(0)
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f'{where} "{pair}": the rate must be a positive number, not {value!r}')
            rates[(source, target)] = rate
        return cls(rates)

    def rate(self, source: str, target: str) -> Decimal | None:
        if source == target:
            return Decimal(1)
        if (source, target) in self.rates:
            return self.rates[(source, target)]
        inverse = self.rates.get((target, source))
        return None if inverse is None else 1 / inverse

    def knows(self, currency: str) -> bool:
        return any(currency in pair for pair in self.rates)

    def convert(self, amount: Money, target: str) -> Money:
        """`amount` in `target`, exact (rounded only when turned into minor units)."""
        rate = self.rate(amount.currency, check_currency(target))
        if rate is None:
            raise ValueError(
                f'no exchange rate from {amount.currency} to {target}: add "{amount.currency}/{target}" to [rates]'
            )
        return Money(amount.amount * rate, target)

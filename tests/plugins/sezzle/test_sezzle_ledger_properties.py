"""Property: no sequence of captures, refunds, releases and clock ticks breaks Sezzle's money rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cartwire.plugins.sezzle.ledger import Authorization, Ledger, RefusalError

START = datetime(2026, 11, 27, 16, 32, 8, tzinfo=UTC)
WINDOW = timedelta(days=7)

# (kind, how, value, currency). "edge" steps land on a boundary, where off-by-one mistakes live:
# an amount of exactly the remainder plus `value`, or the clock at the expiration plus `value` s.
money_steps = st.tuples(
    st.sampled_from(["capture", "refund", "release"]),
    st.sampled_from(["absolute", "edge"]),
    st.integers(-100, 12_000),
    st.sampled_from(["USD", "USD", "USD", "CAD"]),
)
edge_values = st.integers(-2, 2)
operations = st.lists(
    st.one_of(
        money_steps,
        money_steps.flatmap(lambda step: edge_values.map(lambda delta: (step[0], "edge", delta, step[3]))),
        st.tuples(st.just("wait"), st.just("absolute"), st.integers(0, 3 * 24 * 3600), st.just("")),
        st.tuples(st.just("wait"), st.just("edge"), edge_values, st.just("")),
    ),
    max_size=25,
)


def totals(auth: Authorization) -> tuple[int, int, int]:
    return auth.captured, auth.refunded, auth.released


def allowed(kind: str, cents: int, currency: str, auth: Authorization, now: datetime) -> bool:
    """An independent statement of the rules the ledger must enforce."""
    if cents <= 0 or currency != "USD":
        return False
    expired = now >= auth.expiration
    if kind == "refund":
        return cents <= auth.captured - auth.refunded
    return not expired and auth.captured + auth.released + cents <= auth.cents


@given(authorized=st.integers(1, 10_000), steps=operations)
def test_money_rules_hold_for_any_sequence(authorized: int, steps: list[tuple[str, str, int, str]]) -> None:
    ledger = Ledger(WINDOW)
    order = ledger.authorize("R1", authorized, "USD", START)
    auth = order.authorization
    assert auth is not None
    now = START
    for kind, how, value, currency in steps:
        if kind == "wait":
            now = auth.expiration + timedelta(seconds=value) if how == "edge" else now + timedelta(seconds=value)
            continue
        remainder = auth.captured - auth.refunded if kind == "refund" else auth.cents - auth.captured - auth.released
        amount = remainder + value if how == "edge" else value
        before = totals(auth)
        expected = allowed(kind, amount, currency, auth, now)
        try:
            txn = getattr(ledger, kind)(order.uuid, amount, currency, now)
        except RefusalError as refusal:
            assert not expected, f"{kind} {amount} {currency} was refused: {refusal}"
            assert totals(auth) == before  # a refusal changes nothing
        else:
            assert expected, f"{kind} {amount} {currency} was accepted against {before} of {authorized}"
            assert txn.cents == amount
            delta = {"capture": (amount, 0, 0), "refund": (0, amount, 0), "release": (0, 0, amount)}[kind]
            assert totals(auth) == tuple(b + d for b, d in zip(before, delta, strict=True))
        assert auth.captured + auth.released <= auth.cents
        assert 0 <= auth.refunded <= auth.captured
        assert order.checkout_status(now) in {"complete", "deleted"}

"""Exact JSON numbers for 3dcart: Decimal in, the same JSON number out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwire.plugins.threedcart import jsonwire

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.integers(0, 6).flatmap(lambda places: st.decimals(-(10**12), 10**12, places=places)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


@given(json_values)
def test_dumps_then_loads_is_the_identity(value: object) -> None:
    assert jsonwire.loads(jsonwire.dumps(value)) == value


def test_amounts_are_written_as_json_numbers() -> None:
    assert jsonwire.dumps({"OrderAmount": Decimal("108.91"), "Ids": [1, 2], "Note": "é"}) == (
        '{"OrderAmount":108.91,"Ids":[1,2],"Note":"é"}'.encode()
    )
    assert jsonwire.loads(b"[108.91]") == [Decimal("108.91")]


def test_floats_and_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="floats are not written"):
        jsonwire.dumps({"OrderAmount": 108.91})
    with pytest.raises(TypeError, match="cannot write set"):
        jsonwire.dumps({1, 2})
    assert jsonwire.dumps({"when": object()}, default=lambda _: "converted") == b'{"when":"converted"}'

"""JSON with exact numbers, for connectors: amounts are read as Decimal and written back as JSON numbers.

The standard `json` module would turn `108.91` into a float on the way in and cannot write a
Decimal as a number on the way out; money must stay exact on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# Python refuses to turn longer digit strings into an int (CVE-2020-10735); such a number is kept
# as an exact Decimal instead, so the model that reads it can say which field is out of range.
_INT_DIGITS = 4000


def loads(data: bytes | str) -> Any:
    """Parse JSON with every non-integer number (and every absurdly long integer) as a Decimal.

    Raises ValueError for anything that is not JSON, including nesting too deep to parse.
    """
    try:
        return json.loads(data, parse_float=Decimal, parse_int=_integer)
    except RecursionError:
        raise ValueError("arrays or objects are nested too deeply") from None


def _integer(digits: str) -> int | Decimal:
    return int(digits) if len(digits) <= _INT_DIGITS else Decimal(digits)


def kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (`null`, `boolean`, `number`, `string`, `array`,
    `object`), for messages about a wrong one: never Python's type names (`NoneType`, `dict`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Serialize `value` to compact UTF-8 JSON, writing Decimals as plain JSON numbers.

    `default` converts values of other types (for example datetimes) to something serializable.
    Floats are refused: an amount that reached this point as a float has already lost exactness.
    """
    return "".join(_encode(value, default)).encode()


def _encode(value: Any, default: Callable[[Any], Any] | None) -> list[str]:
    if value is None or isinstance(value, (bool, int, str)):
        return [json.dumps(value, ensure_ascii=False)]
    if isinstance(value, float):
        raise TypeError("floats are not written as amounts; use Decimal")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return [format(value, "f")]
    if isinstance(value, dict):
        parts = ["{"]
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            parts += ["," if index else "", json.dumps(key, ensure_ascii=False), ":", *_encode(item, default)]
        return [*parts, "}"]
    if isinstance(value, (list, tuple)):
        parts = ["["]
        for index, item in enumerate(value):
            parts += ["," if index else "", *_encode(item, default)]
        return [*parts, "]"]
    if default is not None:
        return _encode(default(value), None)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

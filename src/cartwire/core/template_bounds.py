"""The checks that keep one template call cheap, before the call runs.

A call or filter that is given a size (`'x'.ljust(n)`, `'x'|center(n)`, `'x'|indent(n)`) makes
something at least that large, so a whole number above `MAX_SIZE` given to any call or filter is
refused, except where whole numbers are data (`'{}'.format(n)`, `n|default(0)`). Widths and
precisions written in a format (`'{:>1000000000}'.format(1)`, `'%1000000000d' % 1`) are refused
above `MAX_SIZE` too, and so are `replace` and `join` whose result would be longer than that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedFormatter

MAX_SIZE = 100_000  # the largest size (width, length, count) a call may be asked to make

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?([a-zA-Z%])")
_FORMAT_NUMBER = re.compile(r"\d+")

# filters whose arguments after the value are data to place, not sizes to make
_DATA_FILTERS = frozenset({"default", "d", "format", "sum", "map", "select", "reject", "selectattr", "rejectattr"})


_CONTAINERS = (list, tuple, dict, set, frozenset)


def refuse_large_value(value: Any, what: str) -> None:
    """Refuse a value whose text would be longer than `MAX_SIZE`: a string, or lists and tables
    holding one another, each one counted as often as it is held (`[l, l]` forty times over is
    2⁴⁰ items once written out, made of forty small lists). Each list is sized once."""
    if isinstance(value, str):
        if len(value) > MAX_SIZE:
            raise SecurityError(f"{what} would make text of {len(value):,} characters; the most is {MAX_SIZE:,}")
    elif isinstance(value, _CONTAINERS) and _written_size(value, {}) > MAX_SIZE:
        raise SecurityError(f"{what} would write out more than {MAX_SIZE:,} items")


def _written_size(value: Any, sizes: dict[int, int]) -> int:
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known
    sizes[id(value)] = 1  # a list that holds itself is written `[...]`
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _written_size(item, sizes) + 1
        if total > MAX_SIZE:  # enough to refuse: the rest need not be counted
            break
    sizes[id(value)] = total
    return total


def refuse_large_arguments(what: str, arguments: Iterable[Any]) -> None:
    """Refuse a whole number above `MAX_SIZE` among `arguments`, naming the call as `what`."""
    for argument in arguments:
        if isinstance(argument, int) and not isinstance(argument, bool) and abs(argument) > MAX_SIZE:
            raise SecurityError(f"`{what}` was given {argument:,}; a template call takes sizes up to {MAX_SIZE:,}")


def refuse_large_call(function: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """The check for `function(*args, **kwargs)` written in a template."""
    name = getattr(function, "__name__", "call")
    receiver = getattr(function, "__self__", None)
    if name in ("format", "format_map") and hasattr(function, "__wrapped__"):
        return  # the sandbox's str.format, whose widths `BoundedFormatter` checks; its numbers are data
    refuse_large_arguments(name, (*args, *kwargs.values()))
    if isinstance(receiver, str) and name == "replace" and len(args) >= 2:
        refuse_long_replace(receiver, args[0], args[1], name)
    if isinstance(receiver, str) and name == "join" and args:
        refuse_long_join(receiver, args[0], name)


def refuse_large_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """The check for `value|name(*args, **kwargs)`."""
    if isinstance(value, _CONTAINERS):  # `|tojson`, `|string`, `|join` write nested lists out
        refuse_large_value(value, f"`{name}`")
    if name == "format" and isinstance(value, str):
        refuse_wide_percent(value, (*args, *kwargs.values()))
    if name in _DATA_FILTERS:
        return
    refuse_large_arguments(name, (*args, *kwargs.values()))
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        refuse_long_replace(value, str(args[0]), str(args[1]), name)
    if name == "join":
        refuse_long_join(str(args[0]) if args else str(kwargs.get("d", "")), value, name)
    if name == "indent" and isinstance(value, str) and args and isinstance(args[0], str):
        refuse_long_replace(value, "\n", "\n" + args[0], name)


def refuse_long_replace(text: str, old: Any, new: Any, what: str) -> None:
    if not isinstance(old, str) or not isinstance(new, str):
        return
    times = len(text) + 1 if not old else text.count(old)
    _refuse_length(len(text) + times * (len(new) - len(old)), what)


def refuse_long_join(separator: str, items: Any, what: str) -> None:
    if not isinstance(items, str | list | tuple):
        return  # a generator's items are each made by a call that is checked itself
    texts = [item for item in items if isinstance(item, str)]
    _refuse_length(len(separator) * max(len(items) - 1, 0) + sum(map(len, texts)), what)


def _refuse_length(length: int, what: str) -> None:
    if length > MAX_SIZE:
        raise SecurityError(f"`{what}` would make text of {length:,} characters; a call makes at most {MAX_SIZE:,}")


def refuse_wide_format(spec: str) -> None:
    """A `str.format` field's spec (`>1000000000`, `.5f`) with a width or precision too large."""
    for number in _FORMAT_NUMBER.findall(spec):
        if int(number) > MAX_SIZE:
            raise SecurityError(f"the format `{{:{spec}}}` asks for {int(number):,} characters, over {MAX_SIZE:,}")


def refuse_wide_percent(text: str, values: Any) -> None:
    """A `%` format (`'%1000000000d' % 1`) with a width or precision too large; a `*` width or
    precision comes from the values, so their whole numbers are then sizes too."""
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.group(1, 2):
            if number == "*":
                flat = values if isinstance(values, tuple) else (values,)
                refuse_large_arguments("%", flat)
            elif number and int(number) > MAX_SIZE:
                spec = match.group(0)
                raise SecurityError(f"the format `{spec}` asks for {int(number):,} characters, over {MAX_SIZE:,}")


class BoundedFormatter(SandboxedFormatter):
    """The sandbox's `str.format`, checking each field's spec once its nested fields
    (`{:>{width}}`) are filled in."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        refuse_wide_format(format_spec)
        refuse_large_value(value, "`format`")
        return super().format_field(value, format_spec)

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        text = super().vformat(format_string, args, kwargs)
        refuse_large_value(text, "`format`")  # '{0}{0}'.format(s), forty times over
        return text

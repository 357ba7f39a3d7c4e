"""Message templates: a string argument such as `"Sezzle captured {{ order.amount }}"`.

Templates are rendered by Jinja2's `SandboxedEnvironment` (no access to Python internals) with
`StrictUndefined` (an unknown name is an error, never an empty string). The names a template
reads are checked against the rule's scope when rules are compiled (`references`).

A render has a bounded cost, so no template can hang the worker: every `range()` of one render
shares a budget of `RANGE_BUDGET` items, the rounds of all its loops (however nested, whatever they
loop over) and its macro calls share a budget of `ROUND_BUDGET`, `*` and
`**` refuse results larger than `MAX_OUTPUT` characters or `MAX_BITS` bits, calls and filters
refuse sizes that are too large (`template_bounds`), and the text stops at `MAX_OUTPUT`
characters. Names starting with `_` are refused when the rule is checked.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, lru_cache, update_wrapper
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment

from cartwire.core.template_bounds import (
    BoundedFormatter,
    refuse_large_call,
    refuse_large_filter,
    refuse_large_value,
    refuse_wide_percent,
)

MAX_OUTPUT = 100_000  # characters one render may produce
RANGE_BUDGET = 100_000  # items all the `range()` calls of one render may produce together
ROUND_BUDGET = 100_000  # rounds of all the loops and calls of macros one render may make together
# Characters all the filters and calls of one render may make together: each is bounded alone, but
# 100,000 rounds of a `tojson` of 99,999 characters took minutes of the worker's time. `~` and `+` are
# not counted: a message built by appending in a loop copies what it has at every round.
TEXT_BUDGET = 100_000_000
MAX_BITS = 4_096  # the size of a whole number `*` or `**` may produce

_range_left: ContextVar[int] = ContextVar("_range_left", default=RANGE_BUDGET)
_rounds_left: ContextVar[int] = ContextVar("_rounds_left", default=ROUND_BUDGET)
_text_left: ContextVar[int] = ContextVar("_text_left", default=TEXT_BUDGET)
_ROUNDS = "(rounds)"  # the filter each loop's items go through; no template can write its name
_SIZED = "(sized)"  # the filter each operand of `~` goes through


TOO_DEEP = "this template nests too deeply"


class TemplateTooDeep(ValueError):
    """A template whose nesting (parentheses, filters, operators) Jinja or Python cannot compile."""


def is_template(text: str) -> bool:
    """Only strings with `{{`, `{%` or `{#` are templates; any other string is plain text."""
    return any(mark in text for mark in ("{{", "{%", "{#"))


def _finalize(value: Any) -> Any:
    refuse_large_value(value, "printing a value")  # before it is written out, not after
    return "" if value is None else value  # a missing optional value prints as nothing


def _sized(value: Any) -> Any:
    """A value about to be joined with `~`, refused when writing it out would be too long."""
    refuse_large_value(value, "`~`")
    return value


def _made(value: Any) -> Any:
    """`value`, its length drawn from the render's budget of text made when it is text."""
    if isinstance(value, str):
        _draw(_text_left, len(value), f"the template makes more than {TEXT_BUDGET:,} characters in one message")
    return value


def _draw(budget: ContextVar[int], count: int, refusal: str) -> None:
    """Take `count` from the render's `budget`, or refuse to go on."""
    left = budget.get() - count
    if left < 0:
        raise SecurityError(refusal)
    budget.set(left)


def _range(*arguments: int) -> range:
    """`range`, drawing its length from the render's budget."""
    items = range(*arguments)
    _draw(_range_left, len(items), f"the template's ranges exceed {RANGE_BUDGET:,} items in one message")
    return items


def _draw_round() -> None:
    _draw(_rounds_left, 1, f"the template's loops and macros exceed {ROUND_BUDGET:,} rounds in one message")


def _rounds(items: Iterable[Any]) -> Iterator[Any]:
    """A loop's items, each drawing a round from the render's budget."""
    for item in items:
        _draw_round()
        yield item


def _count_rounds(tree: nodes.Template) -> nodes.Template:
    """The template with each loop's items counted (a recursive loop's `loop(…)` is counted by
    `_BoundedEnvironment.call`) and each operand of `~` sized before it is written out."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _ROUNDS, [], [], None, None, lineno=loop.iter.lineno)
    for concat in tree.find_all(nodes.Concat):
        concat.nodes = [nodes.Filter(part, _SIZED, [], [], None, None, lineno=part.lineno) for part in concat.nodes]
    return tree


def _refuse_large_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and max(base.bit_length(), 1) * exponent > MAX_BITS:
        raise SecurityError(f"`**` would make a number of more than {MAX_BITS:,} bits")


def _refuse_large_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_BITS:
            raise SecurityError(f"`*` would make a number of more than {MAX_BITS:,} bits")
        return
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int) and len(sequence) * count > MAX_OUTPUT:
            raise SecurityError(f"`*` would make something longer than {MAX_OUTPUT:,} items")


def _refuse_long_sum(length: int) -> None:
    if length > MAX_OUTPUT:
        raise SecurityError(f"`+` would make something longer than {MAX_OUTPUT:,} items")


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with `*`, `**`, `%`, calls and `str.format` refusing results too large to be
    a message."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "+":  # `s + s` or `l + l` forty times over
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _refuse_long_sum(len(left) + len(right))
            return operator.add(left, right)
        if operator_ == "**":
            _refuse_large_power(left, right)
            return operator.pow(left, right)
        if operator_ == "%":
            if isinstance(left, str):
                refuse_wide_percent(left, right)
            return operator.mod(left, right)
        _refuse_large_product(left, right)
        return operator.mul(left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, Macro):
            _draw_round()  # a macro that calls itself twice would double its work at each level
        elif isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive loop
            args = (_rounds(args[0]), *args[1:])
        if not isinstance(__obj, Undefined):  # an unknown name is reported as such
            refuse_large_call(__obj, args, kwargs)
        return _made(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None
        text: str = value.__self__
        vformat = BoundedFormatter(self).vformat
        if value.__name__ == "format_map":

            def format_map(mapping: Mapping[str, Any]) -> str:
                return vformat(text, (), mapping)

            return update_wrapper(format_map, value)

        def format_(*args: Any, **kwargs: Any) -> str:
            return vformat(text, args, kwargs)

        return update_wrapper(format_, value)


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, refusing sizes too large before it runs, and text too long once it has (`tojson`,
    `pprint` and `format` can each double a text, so a chain of them grew past any limit).
    `jinja_pass_arg` is kept, so Jinja still passes the context or environment first."""
    leading = 1 if hasattr(function, "jinja_pass_arg") else 0

    def bounded(*args: Any, **kwargs: Any) -> Any:
        refuse_large_filter(name, args[leading], args[leading + 1 :], kwargs)
        result = function(*args, **kwargs)
        if isinstance(result, str):
            refuse_large_value(result, f"`{name}`")
        return _made(result)

    return update_wrapper(bounded, function)


@cache
def environment() -> SandboxedEnvironment:
    sandbox = _BoundedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
    )
    sandbox.filters = {name: _bounded_filter(name, function) for name, function in sandbox.filters.items()}
    sandbox.filters[_ROUNDS] = _rounds
    sandbox.filters[_SIZED] = _sized
    sandbox.globals["range"] = _range
    del sandbox.globals["lipsum"]  # placeholder text of any length: no use in a message
    return sandbox


@dataclass(frozen=True)
class Template:
    """A checked template; `render` takes the names it may read."""

    source: str
    compiled: Any = field(compare=False, repr=False)

    def render(self, names: Mapping[str, Any]) -> str:
        """The text; a ValueError says which name was undefined or what the sandbox refused."""
        budget, rounds, text = (
            _range_left.set(RANGE_BUDGET),
            _rounds_left.set(ROUND_BUDGET),
            _text_left.set(TEXT_BUDGET),
        )
        try:
            return _bounded(self.compiled.generate(names))
        except TemplateError as error:
            raise ValueError(f"template {self.source!r}: {error.message}") from None
        except RecursionError:
            # A macro calling itself: Python's stack, not the sandbox, stops it.
            raise ValueError(f"template {self.source!r}: {TOO_DEEP}") from None
        finally:
            _range_left.reset(budget)
            _rounds_left.reset(rounds)
            _text_left.reset(text)


def _bounded(chunks: Iterator[str]) -> str:
    """The rendered text, refused as soon as it grows past `MAX_OUTPUT` characters."""
    text: list[str] = []
    length = 0
    for chunk in chunks:
        length += len(chunk)
        if length > MAX_OUTPUT:
            raise SecurityError(f"the message is longer than {MAX_OUTPUT:,} characters")
        text.append(chunk)
    return "".join(text)


def compile_template(source: str) -> tuple[Template, list[tuple[str, ...]]]:
    """The template and the dotted paths it reads from outside (`("order", "amount")`).

    A ValueError carries Jinja's syntax error in words. Rule files repeat templates, so a
    template is parsed and compiled once per text (a `Template` holds no state of its own).
    """
    template, paths = _compiled(source)
    return template, list(paths)


def forget_templates() -> None:
    """Drop the compiled templates, so that a measurement of compiling starts from none."""
    _compiled.cache_clear()


@lru_cache(maxsize=4096)
def _compiled(source: str) -> tuple[Template, tuple[tuple[str, ...], ...]]:
    try:
        tree = environment().parse(source)
        hidden = _hidden_name(tree)
        outside = meta.find_undeclared_variables(tree)
        paths = tuple(sorted({path for path in _paths(tree) if path[0] in outside}))
        compiled = environment().from_string(_count_rounds(tree)) if hidden is None else None
    except TemplateError as error:
        raise ValueError(f"not a valid template: {error.message}") from None
    except (RecursionError, SyntaxError, MemoryError):
        # Jinja parses and compiles by recursion, and Python's own compiler limits nesting: a
        # template of a few hundred nested parentheses or filters stops one of them.
        raise TemplateTooDeep(TOO_DEEP) from None
    if hidden is not None:
        raise ValueError(f"a template cannot read `{hidden}`: names starting with `_` are Python's internals")
    return Template(source, compiled), paths


def _hidden_name(tree: nodes.Node) -> str | None:
    """The first `x._name`, `x["_name"]` or `x|attr("_name")` in the template, or None."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name = _read_name(node)
        if isinstance(name, str) and name.startswith("_"):
            return name
    return None


def _read_name(node: nodes.Node) -> object:
    """The attribute or key `node` reads when it is written as a constant."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    argument = node.arg if isinstance(node, nodes.Getitem) else None
    if isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        argument = node.args[0]
    return argument.value if isinstance(argument, nodes.Const) else None


def _paths(node: nodes.Node) -> Iterator[tuple[str, ...]]:
    """Each `a.b.c` chain of attribute reads, longest form only."""
    if isinstance(node, nodes.Getattr | nodes.Name):
        chain = _chain(node)
        if chain is not None:
            yield chain
            return
    for child in node.iter_child_nodes():
        yield from _paths(child)


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    names: list[str] = []
    while isinstance(node, nodes.Getattr):
        names.append(node.attr)
        node = node.node
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return (node.name, *reversed(names))
    return None

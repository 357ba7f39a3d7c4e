"""Message templates: a string argument such as `"Sezzle captured {{ order.amount }}"`.

Templates are rendered by Jinja2's `SandboxedEnvironment` (no access to Python internals) with
`StrictUndefined` (an unknown name is an error, never an empty string). The names a template
reads are checked against the rule's scope when rules are compiled (`references`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment


def is_template(text: str) -> bool:
    """Only strings with `{{`, `{%` or `{#` are templates; any other string is plain text."""
    return any(mark in text for mark in ("{{", "{%", "{#"))


def _finalize(value: Any) -> Any:
    return "" if value is None else value  # a missing optional value prints as nothing


@cache
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
    )


@dataclass(frozen=True)
class Template:
    """A checked template; `render` takes the names it may read."""

    source: str
    compiled: Any = field(compare=False, repr=False)

    def render(self, names: Mapping[str, Any]) -> str:
        """The text; a ValueError says which name was undefined or what the sandbox refused."""
        try:
            return str(self.compiled.render(names))
        except TemplateError as error:
            raise ValueError(f"template {self.source!r}: {error.message}") from None


def compile_template(source: str) -> tuple[Template, list[tuple[str, ...]]]:
    """The template and the dotted paths it reads from outside (`("order", "amount")`).

    A ValueError carries Jinja's syntax error in words.
    """
    try:
        tree = environment().parse(source)
        compiled = environment().from_string(source)
    except TemplateError as error:
        raise ValueError(f"not a valid template: {error.message}") from None
    outside = meta.find_undeclared_variables(tree)
    paths = sorted({path for path in _paths(tree) if path[0] in outside})
    return Template(source, compiled), paths


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

"""Hook specifications: the points where a plugin extends Cartwire.

Discovery hooks receive a `register` callback (as simonw/llm does), so adding an option never
changes a hook's signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

PROJECT = "cartwire"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:
    from cartwire.core.functions import RegisterFunction
    from cartwire.plugins.connector import RegisterConnector


@hookspec
def cartwire_register_connectors(register: RegisterConnector) -> None:
    """Called once when the connector registry is built.

    :param register: call it with each `Connector` subclass this plugin provides.
    All implementations are called; the return value is ignored.
    """


@hookspec
def cartwire_register_functions(register: RegisterFunction) -> None:
    """Called once when the functions rules may call are collected.

    :param register: call it as `register(name, parameter_types, result_type, implementation,
        description="…")` for each function; types are Python annotations (`str`, `Decimal`,
        `Money`, `date`, `list[str]`) or rule types. The checker uses them to refuse a call with
        the wrong arguments before any event arrives.
    All implementations are called; the return value is ignored.
    """

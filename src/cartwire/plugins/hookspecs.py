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
    from cartwire.plugins.connector import RegisterConnector


@hookspec
def cartwire_register_connectors(register: RegisterConnector) -> None:
    """Called once when the connector registry is built.

    :param register: call it with each `Connector` subclass this plugin provides.
    All implementations are called; the return value is ignored.
    """

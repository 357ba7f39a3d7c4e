"""Builds the plugin manager and the connector registry; nothing here runs at import time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module

import pluggy

from cartwire.core.functions import Function, collect
from cartwire.plugins import hookspecs
from cartwire.plugins.connector import Connector

BUILTIN_PLUGINS = (
    "cartwire.plugins.threedcart",
    "cartwire.plugins.sezzle",
    "cartwire.plugins.quickbooks",
    "cartwire.plugins.shipstation",
    "cartwire.plugins.webhook",
)
# Set CARTWIRE_DISABLE_PLUGIN_AUTOLOAD=1 to load only the built-ins (tox does the same for its plugins).
AUTOLOAD_ENV = "CARTWIRE_DISABLE_PLUGIN_AUTOLOAD"


class PluginError(Exception):
    """A plugin could not be loaded or declares something invalid."""


def make_plugin_manager(*, entry_points: bool | None = None, extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the built-in connectors, `extra` plugins and, unless disabled,
    everything in the `cartwire` entry-point group. A plugin's import error is raised, not hidden.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(import_module(name), name=name)
    for plugin in extra:
        pm.register(plugin)
    if entry_points is None:
        entry_points = not os.environ.get(AUTOLOAD_ENV)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as error:
            raise PluginError(
                f"a plugin in the {hookspecs.PROJECT!r} entry-point group failed to load: {error!r}"
            ) from error
    return pm


@dataclass
class ConnectorRegistry:
    """Connector classes by name and alias."""

    classes: dict[str, type[Connector]] = field(default_factory=dict)
    by_alias: dict[str, str] = field(default_factory=dict)

    def register(self, cls: type[Connector]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise PluginError(f"register() expects a Connector subclass, got {cls!r}")
        existing = self.classes.get(cls.name)
        if existing is not None and existing is not cls:
            raise PluginError(f"two connectors are named {cls.name!r}: {existing.__module__} and {cls.__module__}")
        self.classes[cls.name] = cls
        for alias in (cls.name, *cls.aliases):
            self.by_alias[alias] = cls.name

    def get(self, name: str) -> type[Connector]:
        try:
            return self.classes[self.by_alias[name]]
        except KeyError:
            raise LookupError(f"no connector named {name!r} (loaded: {', '.join(sorted(self.classes))})") from None

    def canonical(self, name: str) -> str:
        return self.get(name).name


def connector_registry(pm: pluggy.PluginManager | None = None) -> ConnectorRegistry:
    """Ask every plugin to register its connectors."""
    registry = ConnectorRegistry()
    (pm or make_plugin_manager()).hook.cartwire_register_connectors(register=registry.register)
    return registry


def plugin_functions(pm: pluggy.PluginManager | None = None) -> list[Function]:
    """Ask every plugin to register its rule functions; a badly typed one is a `PluginError`."""
    hook = (pm or make_plugin_manager()).hook.cartwire_register_functions
    try:
        return collect(lambda register: hook(register=register))
    except ValueError as error:
        raise PluginError(f"a plugin registered an invalid rule function: {error}") from None

"""Which retry policy applies to an action, and whether an error is worth another attempt.

A policy is built in layers, each naming only the fields it changes, the later winning:

1. the runtime's base policy (`RetryPolicy()` unless a test or embedder passes another);
2. the connector's `retry_defaults`, then the action's `ActionSpec.retry`;
3. `cartwire.toml`: the plain keys of `[retry]`, then `[retry.<connector>]`, then
   `[retry."<connector>.<action>"]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cartwire.core.catalog import Catalog
from cartwire.plugins.connector import ActionError
from cartwire.plugins.policy import RetryPolicy

_NUMBERS = {"initial", "multiplier", "maximum", "jitter"}
_INTEGERS = {"attempts"}
_CODE_LISTS = {"permanent", "transient"}
RETRY_KEYS = frozenset(_NUMBERS | _INTEGERS | _CODE_LISTS)


def retry_overrides(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check one layer (`{"attempts": 5, "permanent": ["404"]}`); raise ValueError naming `where`."""
    overrides: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in RETRY_KEYS:
            raise ValueError(f"{where}: unknown key {key!r} (expected one of {', '.join(sorted(RETRY_KEYS))})")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{where}: {key} must be a number, not {value!r}")
        if key in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{where}: {key} must be a whole number, not {value!r}")
        if key in _CODE_LISTS:
            if not isinstance(value, list | tuple | frozenset | set):
                raise ValueError(f"{where}: {key} must be a list of HTTP statuses or error codes, not {value!r}")
            value = frozenset(str(item) for item in value)
        overrides[key] = value
    return overrides


def layered(base: RetryPolicy, layers: list[tuple[str, Mapping[str, Any]]]) -> RetryPolicy:
    """`base` with each (where, overrides) layer applied in turn; an impossible result names its layer."""
    policy = base
    for where, raw in layers:
        try:
            policy = dataclasses.replace(policy, **retry_overrides(raw, where))
        except ValueError as error:
            message = str(error)
            raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
    return policy


@dataclass(frozen=True)
class RetrySettings:
    """The `[retry]` table of `cartwire.toml`: plain keys for every action, sub-tables per scope."""

    common: Mapping[str, Any] = field(default_factory=dict)
    scoped: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, raw: Mapping[str, Any], where: str = "[retry]") -> RetrySettings:
        common = {key: value for key, value in raw.items() if not isinstance(value, Mapping)}
        scoped = {key: value for key, value in raw.items() if isinstance(value, Mapping)}
        settings = cls(retry_overrides(common, where), {})
        for scope, table in scoped.items():
            retry_overrides(table, f'[retry."{scope}"]')
        layered(RetryPolicy(), [(where, settings.common)])  # impossible values are found now, not mid-run
        return dataclasses.replace(settings, scoped=scoped)


class RetryPolicies:
    """The policy of each loaded action, built once; a scope naming nothing loaded is an error."""

    def __init__(self, catalog: Catalog, base: RetryPolicy, settings: RetrySettings | None = None):
        settings = settings or RetrySettings()
        known = set(catalog.connectors) | {info.qualified_name for info in catalog.actions.values()}
        canonical = {}
        for scope in settings.scoped:
            name, _, action = scope.partition(".")
            resolved = catalog.connector_name(name)
            key = f"{resolved}.{action}" if action else resolved
            if resolved is None or key not in known:
                raise ValueError(f'[retry."{scope}"]: no loaded connector or action is called {scope!r}')
            canonical[key] = settings.scoped[scope]
        self._policies: dict[tuple[str, str], RetryPolicy] = {}
        for (connector_name, action_name), info in catalog.actions.items():
            connector = catalog.connectors[connector_name]
            self._policies[(connector_name, action_name)] = layered(
                base,
                [
                    (f"{connector_name}.retry_defaults", connector.retry_defaults),
                    (f"{info.qualified_name} ActionSpec.retry", info.spec.retry),
                    ("[retry]", settings.common),
                    (f'[retry."{connector_name}"]', canonical.get(connector_name, {})),
                    (f'[retry."{info.qualified_name}"]', canonical.get(info.qualified_name, {})),
                ],
            )
        self._base = base

    def for_action(self, connector: str, action: str) -> RetryPolicy:
        return self._policies.get((connector, action), self._base)

    def max_attempts(self, connector: str, action: str) -> int:
        return self.for_action(connector, action).attempts


def is_transient(error: ActionError, policy: RetryPolicy) -> bool:
    """The connector's classification, unless the policy names the error's status or code."""
    names = {str(error.status)} if error.status is not None else set()
    if error.code:
        names.add(error.code)
    if names & policy.permanent:
        return False
    if names & policy.transient:
        return True
    return error.transient

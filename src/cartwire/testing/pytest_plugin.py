"""Cartwire as a pytest plugin (entry point `pytest11`, name `cartwire`): rule tests inside a
project's own test suite.

- Every `*.ruletest.toml` under the collected paths becomes test items, one per `[[test]]`,
  reported with the same diff as `cartwire test`.
- Fixtures: `cartwire_catalog` (the connectors of the configuration, or every registered one with
  default settings) and `cartwire_rules`, which loads a rule set into a `RuleSet` that evaluates
  events from bodies, files or recordings and asserts on the plans.
- The configuration is `--cartwire-config FILE` or the ini option `cartwire_config` (relative to
  the ini file), read as `cartwire test --config FILE` reads it; rule test files and the fixtures
  both use it.
- For connector authors (`cartwire.testing.connector_fixtures`): `cartwire_emulator`,
  `cartwire_engine` and `cartwire_events`.

Disable it with `-p no:cartwire`. Cartwire itself is imported only when a fixture or a rule test
file needs it, so enabling the plugin costs nothing elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cartwire.replay import RULE_TEST_SUFFIX
from cartwire.testing.connector_fixtures import cartwire_emulator as cartwire_emulator  # fixtures of this plugin
from cartwire.testing.connector_fixtures import cartwire_engine as cartwire_engine
from cartwire.testing.connector_fixtures import cartwire_events as cartwire_events
from cartwire.testing.connector_fixtures import catalog_of, events_of

if TYPE_CHECKING:
    from cartwire.core.catalog import Catalog
    from cartwire.core.events import Event
    from cartwire.core.functions import Library
    from cartwire.replay.ruletest import RuleTest, Runner
    from cartwire.replay.trace import Outcome

_RUNNER = pytest.StashKey["Runner"]()
_CONFIGURED = pytest.StashKey["tuple[Catalog, Library | None]"]()
CONFIG_HELP = "Cartwire configuration for rule tests and fixtures, as `cartwire test --config` reads it."


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("cartwire").addoption("--cartwire-config", dest="cartwire_config", metavar="FILE", help=CONFIG_HELP)
    parser.addini("cartwire_config", CONFIG_HELP + " Relative to the ini file.", default="")


def config_path(config: pytest.Config) -> Path | None:
    """The configuration file given on the command line (relative to where pytest runs), else in the ini."""
    given = config.getoption("cartwire_config", None)
    if given:
        return Path(given)
    ini = str(config.getini("cartwire_config") or "")
    if not ini:
        return None
    return (config.inipath.parent if config.inipath else config.rootpath) / ini


def pytest_configure(config: pytest.Config) -> None:
    """A configuration file that is not there stops the session at once (nothing is loaded yet)."""
    path = config_path(config)
    if path is not None and not path.is_file():
        raise pytest.UsageError(f"cartwire_config: {path} is not a file")


def configured(config: pytest.Config) -> tuple[Catalog, Library | None]:
    """The connectors and rule functions of the configuration, read once per session; without one,
    every registered connector with default settings and the built-in functions."""
    if _CONFIGURED not in config.stash:
        path = config_path(config)
        if path is None:
            config.stash[_CONFIGURED] = (default_catalog(), None)
        else:
            from cartwire.cli import setup_for
            from cartwire.core.config import ConfigError

            try:
                config.stash[_CONFIGURED] = setup_for(path)
            except ConfigError as error:
                raise pytest.UsageError(f"cartwire_config: {error}") from None
    return config.stash[_CONFIGURED]


class RuleSet:
    """A rule set under test: feed it events, get `Outcome`s (plan, reasons), assert on them."""

    def __init__(self, paths: Sequence[Path], catalog: Catalog, library: Library | None = None):
        from cartwire.replay.trace import TracedRules

        self.catalog = catalog
        self.rules = TracedRules(paths, catalog, library)

    def events(self, source: bytes | str | Path | Any, *, query: Mapping[str, str] | None = None) -> list[Event]:
        """The events of a raw body (bytes, or a JSON-able value), a body file or a recording."""
        return events_of(self.catalog, source, query)

    def feed(self, *sources: bytes | str | Path | Any, query: Mapping[str, str] | None = None) -> list[Outcome]:
        """Evaluate the events of each source in order, as replay does (repeats ignored)."""
        return self.rules.replay_events(e for source in sources for e in self.events(source, query=query))

    def assert_plans(
        self,
        outcomes: Sequence[Outcome],
        calls: Sequence[tuple[str, Mapping[str, Any]] | str] | None = None,
        *,
        hold: str | None = None,
    ) -> None:
        """Fail with expected-versus-planned unless the outcomes plan exactly these calls (each
        `"connector.action"` or `("connector.action", {argument: value})`, only the arguments
        given being compared; `[]` for no action) and, when given, hold with `hold` as reason.
        """
        from cartwire.replay.ruletest import ExpectedCall, compare

        errors = [o.error for o in outcomes if o.error]
        assert not errors, "\n".join(errors)
        expected = None
        if calls is not None:
            expected = [ExpectedCall(c) if isinstance(c, str) else ExpectedCall(c[0], dict(c[1])) for c in calls]
        problems = compare(outcomes, expected, hold)
        assert not problems, "\n".join(problems)


def default_catalog() -> Catalog:
    """Every registered connector, with default settings."""
    return catalog_of(None)


@pytest.fixture
def cartwire_catalog(pytestconfig: pytest.Config) -> Catalog:
    """The connectors rules are checked against: the configuration's (`--cartwire-config`), or every
    registered one with default settings."""
    return configured(pytestconfig)[0]


@pytest.fixture
def cartwire_rules(cartwire_catalog: Catalog, pytestconfig: pytest.Config) -> Callable[..., RuleSet]:
    """`cartwire_rules("rules/")` -> a `RuleSet` of those rule files or directories."""

    def load(*paths: str | Path) -> RuleSet:
        return RuleSet([Path(p) for p in paths], cartwire_catalog, configured(pytestconfig)[1])

    return load


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(RULE_TEST_SUFFIX):
        return RuleTestFile.from_parent(parent, path=file_path)
    return None


class RuleTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from cartwire.replay.ruletest import RuleTestError, load

        try:
            tests = load(self.path)
        except RuleTestError as error:
            raise self.CollectError(str(error)) from None
        for test in tests:
            yield RuleTestItem.from_parent(self, name=test.name, test=test)


class RuleTestFailure(Exception):
    """A rule test's plan is not the expected one; the message is the diff."""


class RuleTestItem(pytest.Item):
    def __init__(self, *, test: RuleTest, **kwargs: Any):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        result = _runner(self.config).run(self.test)
        if not result.passed:
            raise RuleTestFailure("\n".join(result.problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RuleTestFailure):
            return f"{self.test.where}\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"rule test: {self.name}"


def _runner(config: pytest.Config) -> Runner:
    """One runner per session, so each rule set is compiled once."""
    if _RUNNER not in config.stash:
        from cartwire.replay.ruletest import Runner

        config.stash[_RUNNER] = Runner(*configured(config))
    return config.stash[_RUNNER]

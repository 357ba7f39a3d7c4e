"""The built-in connectors are written with the public kit only, so they are examples a third party
can follow: no private name, nothing from another connector, nothing from Cartwire's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cartwire
from cartwire.plugins.manager import BUILTIN_PLUGINS

# The modules a connector package may import (docs/connectors.md, "The public kit").
PUBLIC_KIT = frozenset(
    {
        "cartwire.core.events",
        "cartwire.core.money",
        "cartwire.core.timeutil",
        "cartwire.core.types",
        "cartwire.plugins.connector",
        "cartwire.plugins.fields",
        "cartwire.plugins.hookspecs",
        "cartwire.plugins.httpkit",
        "cartwire.plugins.jsonwire",
        "cartwire.plugins.policy",
        "cartwire.plugins.retry_after",
        "cartwire.testing.clock",
        "cartwire.testing.faults",
        "cartwire.testing.server",
        "cartwire.testing.webhooks",
    }
)
SOURCE = Path(cartwire.__file__).parent


def imports(path: Path, package: str) -> list[tuple[int, str, str]]:
    """(line, module, name) of every import of a Cartwire module in `path`, relative ones resolved."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{module}" if module else base
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return [(line, module, name) for line, module, name in found if module.split(".")[0] == "cartwire"]


def violations(plugin: str) -> list[str]:
    folder = SOURCE.joinpath(*plugin.split(".")[1:])
    problems = []
    for path in sorted(folder.rglob("*.py")):
        for line, module, name in imports(path, plugin):
            if module == plugin or module.startswith(plugin + "."):
                continue  # the connector's own modules
            where = f"{path.relative_to(SOURCE.parent)}:{line}"
            if module not in PUBLIC_KIT and f"{module}.{name}" not in PUBLIC_KIT:
                problems.append(f"{where}: {module} is not part of the public kit")
            elif name.startswith("_"):
                problems.append(f"{where}: {module}.{name} is private")
    return problems


@pytest.mark.parametrize("plugin", BUILTIN_PLUGINS)
def test_builtin_connectors_import_only_the_public_kit(plugin):
    assert violations(plugin) == []


def test_the_scan_sees_a_private_import(tmp_path, monkeypatch):
    package = tmp_path / "cartwire" / "plugins" / "fake"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from cartwire.plugins.sezzle.api import SezzleApi\n"
        "from cartwire.core.money import _factor\n"
        "from cartwire.core import config\n"
        "from . import wire\n"
    )
    monkeypatch.setattr(f"{__name__}.SOURCE", tmp_path / "cartwire")
    assert [problem.split(": ", 1)[1] for problem in violations("cartwire.plugins.fake")] == [
        "cartwire.plugins.sezzle.api is not part of the public kit",
        "cartwire.core.money._factor is private",
        "cartwire.core is not part of the public kit",
    ]


def test_the_kit_depends_on_no_builtin_connector():
    for module in sorted(PUBLIC_KIT):
        path = SOURCE.joinpath(*module.split(".")[1:]).with_suffix(".py")
        package = module.rsplit(".", 1)[0]
        leaks = [m for _, m, _ in imports(path, package) if any(m.startswith(b) for b in BUILTIN_PLUGINS)]
        assert leaks == [], f"{module} imports {leaks}"

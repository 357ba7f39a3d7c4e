"""`cartwire new-connector`: names are checked, nothing is overwritten, the package is complete."""

from __future__ import annotations

import ast
import importlib
import tomllib

import pytest
from click.testing import CliRunner

from cartwire.cli import main
from cartwire.plugins.connector import Connector
from cartwire.plugins.manager import connector_registry, make_plugin_manager
from cartwire.scaffold import ScaffoldError, names_for, scaffold


def test_names_are_derived_from_the_connector_name():
    names = names_for("acme_shop")
    assert (names.package, names.distribution, names.class_name) == (
        "cartwire_acme_shop",
        "cartwire-acme-shop",
        "AcmeShop",
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Acme", "lower-case letters"),
        ("1acme", "starting with a letter"),
        ("acme-shop", "lower-case letters, digits and '_'"),
        ("", "1-40"),
        ("a" * 41, "1-40"),
        ("acme_", "'_' must separate words"),
        ("acme__shop", "'_' must separate words"),
        ("class", "reserved word"),
        ("rule", "reserved word"),
        ("sezzle", "already installed (cartwire.plugins.sezzle"),
        ("shift4shop", "already installed (cartwire.plugins.threedcart"),
    ],
)
def test_a_bad_name_is_refused_with_the_reason(name, reason, tmp_path):
    with pytest.raises(ScaffoldError) as caught:
        scaffold(name, tmp_path / "out")
    assert reason in caught.value.message
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "cartwire-acme"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["new-connector", "acme", "--directory", str(target)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_the_package_has_an_entry_point_a_connector_an_emulator_and_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["new-connector", "acme"])
    assert result.exit_code == 0, result.output
    assert "created cartwire-acme (8 files)" in result.output
    root = tmp_path / "cartwire-acme"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "rules/example.rules",
        "src/cartwire_acme/__init__.py",
        "src/cartwire_acme/connector.py",
        "src/cartwire_acme/emulator.py",
        "tests/data/order-updated.json",
        "tests/test_connector.py",
    ]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "cartwire-acme"
    assert project["project"]["entry-points"]["cartwire"] == {"acme": "cartwire_acme"}
    for path in root.rglob("*.py"):
        ast.parse(path.read_text(), str(path))  # every template renders to valid Python
    assert "class Acme(Connector):" in (root / "src/cartwire_acme/connector.py").read_text()


def _top_level_names(tree: ast.Module) -> list[str]:
    """The names a module binds at top level, once per binding (imports, classes, functions)."""
    bound: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound += [(alias.asname or alias.name).split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ClassDef | ast.FunctionDef):
            bound.append(node.name)
    return bound


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        ("none", "NoneConnector"),  # `class None` is a SyntaxError
        ("order", "OrderConnector"),  # the `Order` subject model
        ("add_note", "AddNoteConnector"),  # the `AddNote` action arguments
        ("event", "EventConnector"),  # `cartwire.core.events.Event`
        ("connector", "ConnectorConnector"),  # the kit's `Connector` and `ConnectorSettings`
        ("acme_shop", "AcmeShop"),  # no clash: the plain name
    ],
)
def test_any_valid_name_gives_a_package_that_imports_without_shadowing(name, class_name, tmp_path, monkeypatch):
    root = tmp_path / "out"
    scaffold(name, root)
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        bound = _top_level_names(tree)
        assert sorted({n for n in bound if bound.count(n) > 1}) == [], f"{path.name} binds a name twice"
    monkeypatch.syspath_prepend(str(root / "src"))
    package = importlib.import_module(f"cartwire_{name}")
    connector_class = getattr(package, class_name)
    assert issubclass(connector_class, Connector)
    registry = connector_registry(make_plugin_manager(entry_points=False, extra=[package]))
    assert registry.get(name) is connector_class
    connector = connector_class(connector_class.Settings())
    assert [spec.name for spec in connector.actions()] == ["add_note"]
    assert [t.name for t in connector.event_types()] == [f"{name}.order.updated"]

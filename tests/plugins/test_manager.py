"""The plugin manager: built-ins registered like third-party connectors, entry points discovered."""

import textwrap

import pytest

from cartwire.plugins.manager import AUTOLOAD_ENV, PluginError, connector_registry, make_plugin_manager


def install_fake_distribution(tmp_path, monkeypatch, module_source: str) -> None:
    """Make an installed distribution `acme-cartwire` whose entry point in group `cartwire` is a fresh module."""
    module = f"acme_connector_{tmp_path.name.replace('-', '_')}"  # a new name per test: no stale sys.modules entry
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = tmp_path / "acme_cartwire-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cartwire\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[cartwire]\nacme = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)


ACME = """
    from cartwire.plugins.connector import Connector
    from cartwire.plugins.hookspecs import hookimpl

    class Acme(Connector):
        name = "acme"
        aliases = ("acme-erp",)

    @hookimpl
    def cartwire_register_connectors(register):
        register(Acme)
"""


def test_builtin_connectors_are_registered_through_the_hook():
    registry = connector_registry(make_plugin_manager(entry_points=False))
    assert {"3dcart", "sezzle"} <= set(registry.classes)
    assert registry.canonical("shift4shop") == "3dcart"


def test_third_party_connector_is_found_through_the_entry_point_group(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, monkeypatch, ACME)
    pm = make_plugin_manager()
    registry = connector_registry(pm)
    assert registry.get("acme-erp").__module__.startswith("acme_connector_")
    assert "acme-cartwire" in {dist.project_name for _, dist in pm.list_plugin_distinfo()}


def test_entry_points_can_be_turned_off(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, monkeypatch, ACME)
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert "acme" not in connector_registry(make_plugin_manager()).classes


def test_a_broken_plugin_is_shown_not_hidden(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, monkeypatch, "import module_that_does_not_exist\n")
    with pytest.raises(PluginError, match="module_that_does_not_exist"):
        make_plugin_manager()


def test_two_connectors_with_one_name_are_an_error(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, monkeypatch, ACME.replace('name = "acme"', 'name = "sezzle"'))
    with pytest.raises(PluginError, match="two connectors are named 'sezzle'"):
        connector_registry(make_plugin_manager())


def test_nothing_is_built_at_import_time():
    import cartwire.plugins.manager as manager

    assert not any(type(value).__name__ == "PluginManager" for value in vars(manager).values())

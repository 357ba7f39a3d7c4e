"""`cartwire new-connector NAME`: a connector package to start from, rendered from the Jinja2
templates in `cartwire/scaffold_templates` (package data). `__package__` in a template's path
becomes the import package; each file is rendered with the names derived from NAME.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click
import jinja2

from cartwire import __version__
from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.plugins.manager import connector_registry

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TEMPLATES = "scaffold_templates"


class ScaffoldError(click.ClickException):
    """NAME cannot be a connector name, or the target folder exists."""


@dataclass(frozen=True)
class Names:
    """Everything the templates call the new connector."""

    name: str  # in rules and configuration: `acme.order.updated`, `[connectors.acme]`
    package: str  # the import package: cartwire_acme
    distribution: str  # the pip name: cartwire-acme
    class_name: str  # Acme
    cartwire_version: str


def names_for(name: str) -> Names:
    """Check NAME and derive the other names; `ScaffoldError` says what is wrong with it."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a connector name: use 1-40 lower-case letters, digits and '_', starting with a letter"
        )
    if name.endswith("_") or "__" in name:
        raise ScaffoldError(f"{name!r} is not a connector name: '_' must separate words")
    if keyword.iskeyword(name) or not _usable_in_rules(name):
        raise ScaffoldError(f"{name!r} is a reserved word; rules could not name the connector")
    registry = connector_registry()
    if name in registry.by_alias:
        raise ScaffoldError(f"a connector named {name!r} is already installed ({registry.get(name).__module__})")
    class_name = "".join(part.capitalize() for part in name.split("_"))
    return Names(name, f"cartwire_{name}", f"cartwire-{name.replace('_', '-')}", class_name, __version__)


def _usable_in_rules(name: str) -> bool:
    """Whether a rule can name an event type and an action of connector `name`."""
    probe = f'rule "probe" on {name}.order.updated then {name}.add_note(text: "x") end'
    try:
        parse_rules(probe, "<name check>")
    except RuleSyntaxError:
        return False
    return True


def scaffold(name: str, target: Path) -> list[Path]:
    """Write the connector package for `name` into the new folder `target`; the files written."""
    names = names_for(name)
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another --directory or remove it")
    context = asdict(names)
    # The output is Python, TOML and Markdown, never HTML; the only inputs are the checked names.
    environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    rendered: dict[Path, str] = {}  # all rendered before anything is written: an error leaves no folder
    for relative, template in _templates(files("cartwire") / _TEMPLATES, ""):
        path = target / relative.removesuffix(".j2").replace("__package__", names.package)
        rendered[path] = environment.from_string(template.read_text(encoding="utf-8")).render(context)
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(rendered)


def _templates(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _templates(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".j2"):
            found.append((prefix + entry.name, entry))
    return found


@click.command("new-connector")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to create (default: ./cartwire-NAME).",
)
def new_connector(name: str, directory: Path | None) -> None:
    """Create a connector package NAME: connector, emulator, tests, ready for `pip install -e`."""
    target = directory or Path(names_for(name).distribution)
    written = scaffold(name, target)
    click.echo(f"created {target} ({len(written)} files)")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")

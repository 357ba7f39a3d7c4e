"""`cartwire new-connector NAME`: a connector package to start from, rendered from the Jinja2
templates in `cartwire/scaffold_templates` (package data). `__package__` in a template's path
becomes the import package; each file is rendered with the names derived from NAME.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
from dataclasses import asdict, dataclass
from functools import cache
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
    class_name: str  # Acme, or AcmeConnector when Acme would clash with a name the templates use
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
    return Names(name, f"cartwire_{name}", f"cartwire-{name.replace('_', '-')}", _class_name(name), __version__)


def _class_name(name: str) -> str:
    """`acme_shop` -> `AcmeShop`; `AcmeShopConnector` when `AcmeShop` (or the `...Settings` and
    `...Emulator` classes named after it) would shadow a keyword, a builtin or a name the
    generated modules already use (`none` -> `None`, `order` -> the `Order` model, `event` ->
    `Event`, `add_note` -> the `AddNote` arguments)."""
    base = "".join(part.capitalize() for part in name.split("_"))
    taken = _names_in_templates()
    for candidate in (base, f"{base}Connector"):
        derived = {candidate, f"{candidate}Settings", f"{candidate}Emulator"}
        if not derived & taken:
            return candidate
    raise ScaffoldError(f"{name!r} cannot be a connector name: the class {base}Connector would clash")


@cache
def _names_in_templates() -> frozenset[str]:
    """Every identifier the generated Python uses other than the derived class names, plus
    keywords and builtins: what a class named after the connector must not be."""
    probe = Names("zzprobe", "cartwire_zzprobe", "cartwire-zzprobe", "ZzProbe", __version__)
    environment = _environment()
    found: set[str] = set(keyword.kwlist) | set(dir(builtins))
    for relative, template in _templates(files("cartwire") / _TEMPLATES, ""):
        if relative.endswith(".py.j2"):
            text = environment.from_string(template.read_text(encoding="utf-8")).render(asdict(probe))
            tokens = tokenize.generate_tokens(io.StringIO(text).readline)
            found |= {token.string for token in tokens if token.type == tokenize.NAME}
    return frozenset(n for n in found if not n.startswith(probe.class_name))


def _environment() -> jinja2.Environment:
    # The output is Python, TOML and Markdown, never HTML; the only inputs are the checked names.
    return jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701


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
    environment = _environment()
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

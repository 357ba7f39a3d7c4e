"""Reading rule sets: files and directories of `*.rules` into an Engine, or into diagnostics."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pluggy import PluginManager

from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.core.config import Config
from cartwire.core.engine import Engine, RuleError, compile_rules
from cartwire.core.functions import Library, default_library
from cartwire.grammar import Diagnostic, RuleFile, RuleSyntaxError, parse_rules
from cartwire.grammar.diagnostics import internal_error
from cartwire.plugins.manager import PluginError, plugin_functions

TEMPLATES_DIR = Path(__file__).resolve().parent


def rule_files(paths: Iterable[Path | str]) -> list[Path]:
    """`paths` with each directory replaced by the `*.rules` files in it, sorted by name."""
    found: list[Path] = []
    for path in map(Path, paths):
        found.extend(sorted(path.glob("*.rules")) if path.is_dir() else [path])
    return found


def parse_paths(paths: Iterable[Path]) -> tuple[list[RuleFile], list[Diagnostic]]:
    """Parse every file; a file that cannot be read or parsed gives a diagnostic, not an exception,
    and so do paths with no rule file at all (a rule set of nothing is a mistake, not a no-op)."""
    paths = list(paths)
    files: list[RuleFile] = []
    diagnostics: list[Diagnostic] = []
    if not rule_files(paths):
        where = ", ".join(map(str, paths)) or "(no paths)"
        diagnostics.append(Diagnostic("error", f"no *.rules files in {where}", where))
    for path in rule_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            diagnostics.append(Diagnostic("error", f"cannot read the rule file: {reason}", str(path)))
            continue
        try:
            files.append(parse_rules(text, str(path)))
        except RuleSyntaxError as error:
            diagnostics.append(error.diagnostic)
        except Exception as error:  # noqa: BLE001 - a bug on one file must not stop the others
            diagnostics.append(internal_error(str(path), error, "reading the rule file"))
    return files, diagnostics


def check_paths(paths: Iterable[Path], catalog: Catalog, library: Library | None = None) -> list[Diagnostic]:
    """Every syntax, name and type problem of the rule files at `paths` (empty when all is well),
    file by file in the order the files are read, and by position within a file.
    """
    paths = list(paths)
    files, diagnostics = parse_paths(paths)
    order = {str(path): index for index, path in enumerate(rule_files(paths))}
    everything = diagnostics + check(files, catalog, library)[1]
    return sorted(everything, key=lambda d: (order.get(d.filename, len(order)), d.line, d.column))


def load_rules(paths: Iterable[Path], catalog: Catalog, library: Library | None = None) -> Engine:
    """Compile the rule files at `paths`; raise `RuleError` with every problem if any."""
    paths = list(paths)
    files, diagnostics = parse_paths(paths)
    if diagnostics:
        raise RuleError(check_paths(paths, catalog, library))
    return compile_rules(files, catalog, library=library)


def rule_library(config: Config | None, pm: PluginManager | None = None) -> Library:
    """The functions rules may call: the built-ins, with `config`'s [rates] and time zone, and
    every function the plugins register (`cartwire_register_functions`).
    """
    rates, time_zone = (config.rates, config.time_zone) if config is not None else (None, "UTC")
    try:
        return default_library(rates, time_zone, plugin_functions(pm))
    except ValueError as error:
        raise PluginError(f"a plugin's rule function cannot be loaded: {error}") from None

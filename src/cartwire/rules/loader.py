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


def read_rule_text(path: Path) -> str | Diagnostic:
    """A rule file's text as it is (line endings kept), or why it cannot be read: a byte that is not
    UTF-8 is named by its line and column, as any other mistake in the file is."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return Diagnostic("error", f"cannot read the rule file: {error.strerror or error}", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line_end = data.find(b"\n", error.start)
        source_line = data[line_start : None if line_end < 0 else line_end].decode("utf-8", "replace")
        return Diagnostic(
            "error",
            f"the rule file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be read",
            str(path),
            line=data.count(b"\n", 0, error.start) + 1,
            column=len(data[line_start : error.start].decode("utf-8", "replace")) + 1,
            source_line=source_line.rstrip("\r"),
        )


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
        text = read_rule_text(path)
        if isinstance(text, Diagnostic):
            diagnostics.append(text)
            continue
        try:  # line endings as `read_text` gives them (universal newlines)
            files.append(parse_rules(text.replace("\r\n", "\n").replace("\r", "\n"), str(path)))
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

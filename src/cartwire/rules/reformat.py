"""`cartwire fmt` on files: read each rule file, format it, and say what would change."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cartwire.grammar import Diagnostic, RuleSyntaxError
from cartwire.grammar.diagnostics import internal_error
from cartwire.grammar.formatter import FormatError, format_text
from cartwire.rules.loader import read_rule_text, rule_files


@dataclass(frozen=True)
class Reformatted:
    """One file: its text, its canonical text, or why it cannot be formatted (then left alone)."""

    path: Path
    before: str
    after: str
    problem: Diagnostic | None = None

    @property
    def changed(self) -> bool:
        return self.problem is None and self.after != self.before

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path} (before)",
            tofile=f"{self.path} (formatted)",
        )
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)

    def write(self) -> None:
        self.path.write_bytes(self.after.encode("utf-8"))


def reformat(path: Path) -> Reformatted:
    """Format one file in memory; nothing is written."""
    before = read_rule_text(path)
    if isinstance(before, Diagnostic):
        return Reformatted(path, "", "", before)
    try:
        return Reformatted(path, before, format_text(before, str(path)))
    except RuleSyntaxError as error:
        return Reformatted(path, before, before, error.diagnostic)
    except FormatError as error:
        return Reformatted(path, before, before, Diagnostic("error", str(error), str(path)))
    except Exception as error:  # noqa: BLE001 - a bug on one file must not stop the others
        return Reformatted(path, before, before, internal_error(str(path), error, "formatting the rule file"))


def reformat_paths(paths: Iterable[Path]) -> list[Reformatted]:
    """Each rule file at `paths` (directories give the `*.rules` files in them), formatted in memory."""
    return [reformat(path) for path in rule_files(paths)]


def summary(outcomes: list[Reformatted], *, written: bool) -> str:
    """`1 file reformatted, 2 unchanged` (and how many could not be formatted, if any)."""
    changed = sum(o.changed for o in outcomes)
    failed = sum(o.problem is not None for o in outcomes)
    done = "reformatted" if written else "would be reformatted"
    parts = [f"{changed} file{'' if changed == 1 else 's'} {done}", f"{len(outcomes) - changed - failed} unchanged"]
    if failed:
        parts.append(f"{failed} could not be formatted")
    return ", ".join(parts)

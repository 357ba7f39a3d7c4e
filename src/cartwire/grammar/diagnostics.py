"""Diagnostics: one problem in a rule file, rendered the way a compiler shows it.

```
rules/payments.rules:3:14: error: `order` has no field `totl`
    3 |   when order.totl > 50 USD
      |              ^^^^
      = did you mean `total`?
```
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cartwire.grammar.ast import RuleFile, Span

# The most characters of a source line a rendered diagnostic quotes: an ordinary long line stays
# whole, a line of thousands (a generated rule, a pasted blob) is cut around the caret.
WINDOW = 160


@dataclass(frozen=True)
class Diagnostic:
    """A problem at a place in a file. `line` 0 means the problem concerns the whole file."""

    severity: Literal["error", "warning"]
    message: str
    filename: str
    line: int = 0
    column: int = 0
    width: int = 1
    source_line: str = ""
    suggestion: str | None = None

    @classmethod
    def at(
        cls,
        file: RuleFile,
        span: Span,
        message: str,
        *,
        suggestion: str | None = None,
        severity: Literal["error", "warning"] = "error",
    ) -> Diagnostic:
        """A problem at `span` of `file`, quoting its first line."""
        return cls.at_source(file.filename, file.source, span, message, suggestion=suggestion, severity=severity)

    @classmethod
    def at_source(
        cls,
        filename: str,
        source: str,
        span: Span,
        message: str,
        *,
        suggestion: str | None = None,
        severity: Literal["error", "warning"] = "error",
    ) -> Diagnostic:
        lines = source.splitlines()
        text = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        end = span.end_column if span.end_line == span.line else len(text) + 1
        return cls(severity, message, filename, span.line, span.column, max(1, end - span.column), text, suggestion)

    def to_json(self) -> dict[str, object]:
        """The shape `cartwire check --format json` prints, for editors and CI."""
        return {
            "severity": self.severity,
            "message": self.message,
            "file": self.filename,
            "line": self.line,
            "column": self.column,
            "end_line": self.line,
            "end_column": self.column + self.width if self.line else 0,
            "source_line": self.source_line,
            "fix": self.suggestion,
        }

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}" if self.line else self.filename

    def render(self) -> str:
        head = f"{self.location}: {self.severity}: {self.message}"
        if not self.line:
            return head
        number = str(self.line)
        gutter = " " * len(number)
        shown, before, width = self._window()
        # Keep tabs as tabs so the caret lines up under the same character in a terminal.
        lead = "".join(c if c == "\t" else " " for c in before)
        lines = [head, f" {number} | {shown}", f" {gutter} | {lead}{'^' * width}"]
        if self.suggestion:
            lines.append(f" {gutter} = {self.suggestion}")
        return "\n".join(lines)

    def _window(self) -> tuple[str, str, int]:
        """The quoted line, what stands before the caret, and the caret's width: a line longer than
        `WINDOW` characters is cut to a window around the caret, each cut end shown as `…`."""
        text, start = self.source_line, self.column - 1
        if len(text) <= WINDOW:
            return text, text[:start], self.width
        first = max(0, min(start - WINDOW // 3, len(text) - WINDOW))
        last = first + WINDOW
        left = "…" if first > 0 else ""
        right = "…" if last < len(text) else ""
        return left + text[first:last] + right, left + text[first:start], max(1, min(self.width, last - start))

    def __str__(self) -> str:
        return self.render()


def internal_error(
    filename: str, error: Exception, doing: str, source: str = "", span: Span | None = None
) -> Diagnostic:
    """A failure of Cartwire itself while `doing` something with a file: a diagnostic like any other
    (so one broken file never stops the others, and `--format json` stays JSON), never a traceback.
    """
    message = f"Cartwire failed while {doing}: {type(error).__name__}: {error}"
    fix = "this is a bug in Cartwire rather than in the rule file; please report it with the file"
    if span is None:
        return Diagnostic("error", message, filename, suggestion=fix)
    return Diagnostic.at_source(filename, source, span, message, suggestion=fix)


def closest(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates nearly as close to `word` as the closest one (none if nothing is close)."""
    scored = [(difflib.SequenceMatcher(None, word, c).ratio(), c) for c in sorted(set(candidates))]
    best = max((score for score, _ in scored), default=0.0)
    return [c for score, c in sorted(scored, key=lambda sc: -sc[0]) if score >= max(0.6, best - 0.05)][:3]


def did_you_mean(word: str, candidates: Iterable[str], *, prefix: str = "") -> str | None:
    """`did you mean `x`?` for the candidates closest to `word`, or None if none is close."""
    matches = closest(word, candidates)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"`{prefix}{m}`" for m in matches) + "?"


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n\n".join(d.render() for d in diagnostics)

"""Every rule block of docs/language.md checks against the connectors Cartwire ships, as a
merchant who copies it would run it. A block preceded by `<!-- check: error -->` shows a mistake
on purpose and must give a diagnostic instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.core.config import default_connectors
from cartwire.core.currency import RateTable
from cartwire.core.functions import default_library
from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.grammar.diagnostics import Diagnostic
from cartwire.plugins.manager import connector_registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
_BLOCK = re.compile(r"(?P<mark><!-- check: error -->\n)?```[a-z]*\n(?P<body>.*?)```", re.DOTALL)
_RULES = re.compile(r'^\s*(?:rule "(?P<rule>[^"]*)"|mapping (?P<mapping>\w+):)', re.MULTILINE)

# Blocks that still only check against tests/core/engine_fakes.py, by their first rule or mapping.
# Each is to be rewritten with the shipped connectors' fields and actions (and the golden scenario
# file it mirrors kept as it is); strict, so a block that starts to check must leave this list.
NOT_YET_SHIPPED = frozenset(
    {
        "<name>",  # the shape of a rule, with placeholders: to be marked as not a rule
        "morning report",
        "big VIP orders go to Sezzle",
        "4. A mapping reused by actions",  # the `checkout` mappings of scenarios 4 and 6
        "6. Currency",
        "promise a ship date two days after the store's date",
        "Sezzle's payment state overrides the store's status",
        "low stock",
        "staff orders",
        "gold customers get a note",
    }
)


_HEADING = re.compile(r"^#{2,3} (.+)$", re.MULTILINE)


def _blocks() -> list[tuple[int, str, bool, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        first = _RULES.search(match.group("body"))
        if first is not None:
            line = text.count("\n", 0, match.start("body")) + 1
            heading = _HEADING.findall(text, 0, match.start())
            name = first.group("rule") or first.group("mapping")
            found.append(
                (line, match.group("body"), match.group("mark") is not None, name, heading[-1] if heading else "")
            )
    return found


BLOCKS = _blocks()
# The rates and zone of the configuration example in docs/language.md.
LIBRARY = default_library(RateTable.parse({"USD/EUR": "0.92", "USD/JPY": "150"}), "America/Chicago")


def _diagnostics(body: str, catalog: Catalog) -> list[Diagnostic]:
    try:
        files = [parse_rules(body, "language.md")]
    except RuleSyntaxError as error:
        return [error.diagnostic]
    return [d for d in check(files, catalog, LIBRARY)[1] if d.severity == "error"]


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog(default_connectors(connector_registry()))


def test_the_reference_has_rule_blocks():
    assert len(BLOCKS) > 10


_TO_REWRITE = pytest.mark.xfail(strict=True, reason="written against the test fakes; to be rewritten")


@pytest.mark.parametrize(
    ("line", "body", "wrong"),
    [
        pytest.param(
            line, body, wrong, id=f"line-{line}", marks=[_TO_REWRITE] if {name, heading} & NOT_YET_SHIPPED else []
        )
        for line, body, wrong, name, heading in BLOCKS
    ],
)
def test_each_rule_block_checks_against_the_shipped_connectors(line: int, body: str, wrong: bool, shipped: Catalog):
    problems = _diagnostics(body, shipped)
    if wrong:
        assert problems, f"docs/language.md:{line}: marked `check: error` but checks cleanly"
    else:
        assert not problems, f"docs/language.md:{line}:\n" + "\n".join(d.render() for d in problems)

"""Every rule block of docs/language.md checks against the connectors Cartwire ships, as a
merchant who copies it would run it (tests/shipped.py: default settings, the webhook destination
`reports`). A marker line before a block changes that, used sparingly:

- `<!-- check: error -->`: the block shows a mistake on purpose and must give a diagnostic;
- `<!-- check: skip -->`: the block shows the shape of a rule, with placeholders, not a rule;
- `<!-- check: with the loyalty plugin -->`: the block calls the example plugin's `loyalty_tier`, and
  is checked with that plugin loaded as well.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cartwire.cli import main
from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.core.config import config_from_mapping
from cartwire.core.functions import Library
from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.grammar.diagnostics import Diagnostic
from cartwire.grammar.formatter import format_text
from cartwire.plugins.manager import make_plugin_manager
from cartwire.rules.loader import rule_library
from shipped import LoyaltyPlugin, shipped_catalog

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
_BLOCK = re.compile(r"(?:<!-- check: (?P<mark>[a-z ]+) -->\n)?```[a-z]*\n(?P<body>.*?)```", re.DOTALL)
# `unformatted`: a block that checks but is shown on purpose in another layout than `cartwire fmt`'s.
_MARKS = ("error", "skip", "with the loyalty plugin", "unformatted")
_RULES = re.compile(r'^\s*(?:rule "(?P<rule>[^"]*)"|mapping (?P<mapping>\w+):)', re.MULTILINE)


def _blocks() -> list[tuple[int, str, str]]:
    """(line, body, mark) of each block that holds a rule or mapping; mark is "" without a marker."""
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        first = _RULES.search(match.group("body"))
        if first is not None:
            line = text.count("\n", 0, match.start("body")) + 1
            found.append((line, match.group("body"), match.group("mark") or ""))
    return found


BLOCKS = _blocks()
# The rates and zone of the configuration example in docs/language.md.
CONFIG = config_from_mapping({"time_zone": "America/Chicago", "rates": {"USD/EUR": "0.92", "USD/JPY": "150"}})


def _library(mark: str) -> Library:
    extra = [LoyaltyPlugin()] if mark == "with the loyalty plugin" else []
    return rule_library(CONFIG, make_plugin_manager(entry_points=False, extra=extra))


def _diagnostics(body: str, catalog: Catalog, library: Library) -> list[Diagnostic]:
    try:
        files = [parse_rules(body, "language.md")]
    except RuleSyntaxError as error:
        return [error.diagnostic]
    return [d for d in check(files, catalog, library)[1] if d.severity == "error"]


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return shipped_catalog()


def test_the_reference_has_rule_blocks():
    assert len(BLOCKS) > 10


def test_markers_are_known_and_few():
    marks = [mark for _, _, mark in BLOCKS if mark]
    assert set(marks) <= set(_MARKS)
    assert marks.count("skip") == 1, "only the shape of a rule is not a rule"
    assert marks.count("with the loyalty plugin") == 1, "only scenario 11 needs the example plugin"


@pytest.mark.parametrize(
    ("line", "body", "mark"), [pytest.param(*block, id=f"line-{block[0]}") for block in BLOCKS if block[2] != "skip"]
)
def test_each_rule_block_checks_against_the_shipped_connectors(line: int, body: str, mark: str, shipped: Catalog):
    problems = _diagnostics(body, shipped, _library(mark))
    if mark == "error":
        assert problems, f"docs/language.md:{line}: marked `check: error` but checks cleanly"
    else:
        assert not problems, f"docs/language.md:{line}:\n" + "\n".join(d.render() for d in problems)


@pytest.mark.parametrize(
    ("line", "body"),
    [
        pytest.param(*block[:2], id=f"line-{block[0]}")
        for block in BLOCKS
        if block[2] not in ("skip", "error", "unformatted")
    ],
)
def test_each_checked_rule_block_is_in_the_formatter_layout(line: int, body: str):
    assert body == format_text(body, "language.md"), f"docs/language.md:{line}: not as `cartwire fmt` writes it"


def _first_rule_section() -> tuple[str, list[str], str]:
    """The rule, the replay command's arguments and the output that "A first rule" shows."""
    section = DOC.read_text(encoding="utf-8").split("## A first rule\n", 1)[1].split("\n## ", 1)[0]
    rule, command, output = (match.group("body") for match in _BLOCK.finditer(section))
    words = command.split()
    assert words[:2] == ["cartwire", "replay"]
    return rule, words[2:], output


def test_the_first_rule_replays_as_the_doc_shows(tmp_path, monkeypatch):
    rule, arguments, output = _first_rule_section()
    sample = Path(arguments[-1])
    (tmp_path / sample.parent).mkdir(parents=True)
    (tmp_path / sample).write_bytes((DOC.parents[1] / sample).read_bytes())
    (tmp_path / arguments[arguments.index("--rules") + 1]).write_text(rule)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["replay", *arguments])
    assert result.exit_code == 0, result.output
    assert result.output == output


def test_the_events_reference_names_every_shipped_event_type_and_its_subject(shipped: Catalog):
    section = DOC.read_text(encoding="utf-8").split("## Reference: events", 1)[1].split("\n## ", 1)[0]
    summary = " ".join(section.split("\n\n", 2)[1].split())
    assert "produce no event" not in section
    for event in shipped.events.values():
        assert f"`{event.name}`" in summary
        if event.subject != "order":
            assert f"`{event.name}` (subject `{event.subject}`)" in summary

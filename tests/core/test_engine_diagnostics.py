"""Golden tests: each bad rule file under tests/data/rules/bad/ renders exactly its .expected text.

Run with CARTWIRE_UPDATE_GOLDEN=1 to rewrite the .expected files after an intended change, then
read the diff: these files are the error messages a merchant sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.engine import RuleError, compile_rules
from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.grammar.diagnostics import render_all
from cartwire.rules.loader import check_paths, load_rules
from cartwire.rules.reformat import reformat

BAD = Path(__file__).resolve().parents[1] / "data" / "rules" / "bad"
GOLDEN = sorted(BAD.glob("*.rules"))


def test_every_bad_rule_file_has_its_expected_rendering():
    assert {p.stem for p in GOLDEN} == {p.stem for p in BAD.glob("*.expected")}


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_bad_rule_file_renders_golden_diagnostics(
    path: Path, crowded_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(BAD)
    diagnostics = check_paths([Path(path.name)], crowded_catalog)
    rendered = render_all(diagnostics) + "\n"
    expected = path.with_suffix(".expected")
    if os.environ.get("CARTWIRE_UPDATE_GOLDEN"):
        expected.write_text(rendered, encoding="utf-8")
    assert rendered == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_loading_a_bad_rule_file_raises_with_the_same_diagnostics(path: Path, crowded_catalog: Catalog):
    diagnostics = check_paths([path], crowded_catalog)
    if all(d.severity == "warning" for d in diagnostics):  # warnings alone do not stop a rule set
        load_rules([path], crowded_catalog)
        return
    with pytest.raises(RuleError) as raised:
        load_rules([path], crowded_catalog)
    assert raised.value.diagnostics == diagnostics


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_problem_points_at_its_line_and_says_how_to_fix_it(path: Path, crowded_catalog: Catalog):
    for diagnostic in check_paths([path], crowded_catalog):
        assert diagnostic.line, diagnostic.render()
        assert diagnostic.source_line, diagnostic.render()
        assert diagnostic.suggestion, f"no fix for: {diagnostic.render()}"
        assert "\n" not in diagnostic.suggestion


def _problems(text: str, catalog: Catalog) -> list[str]:
    with pytest.raises(RuleError) as raised:
        compile_rules([parse_rules(text, "t.rules")], catalog)
    return [f"{d.line}:{d.column} {d.message} | {d.suggestion}" for d in raised.value.diagnostics]


def test_every_problem_of_a_file_is_reported_not_just_the_first(catalog: Catalog):
    text = (
        'rule "a" on 3dcart.order.created when order.totl > 1 USD then 3dcart.add_coment(text: "x") end\n'
        'rule "b" on 3dcart.order.created when status = Shiped then capture(amout: 5 USD) end\n'
    )
    assert _problems(text, catalog) == [
        "1:45 `order` has no field `totl` | did you mean `total`?",
        "1:63 `3dcart` has no action `add_coment` | did you mean `3dcart.add_comment`?",
        "2:48 `Shiped` is not a value of `order_status` | did you mean `Shipped`?",
        "2:68 `sezzle.capture` has no argument `amout` | did you mean `amount`?",
    ]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        (
            'order.payment_method < "M"',
            "1:46 `<` needs numbers, money or times; `order.payment_method` is string"
            " | only `=` and `!=` compare text, labels and true/false",
        ),
        (
            'order.item_count in [1, "2"]',
            '1:70 a list cannot mix number and string (`"2"`) | write the number without quotes, such as `2`',
        ),
        ("event = 1", "1:46 `event` needs a field | write one such as `event.source` or `order.…`"),
        (
            "order.total.amount = 1",
            "1:58 `order.total` is money; it has no field `amount`"
            " | write `amount(order.total)` for the number, `currency(order.total)` for the code",
        ),
        ("custmer.email = 1", "1:46 unknown name `custmer` | did you mean `customer`?"),
        ("order.status = Shipped = true", None),
        (
            "Shipped = Cancel",
            "1:46 `order` has no field `Shipped`"
            ' | compare a field with it, such as `order.<field> = Shipped`, or write "Shipped" for text',
        ),
        (
            "order.status in order.payment_method",
            "1:62 `in` needs a list on its right; `order.payment_method` is string"
            " | write a list such as `[order.payment_method]`, or `contains(…)` for text",
        ),
        (
            "1 in order.tags",
            "1:46 cannot look for number (`1`) in a list of string (`order.tags`) | write text in double quotes",
        ),
        ("order.channel = Web", "1:62 `Web` is not a value of `Channel` | did you mean `web`?"),
        (
            'first(item in order.items: item.quantity > 1).skuu = "A"',
            "1:92 `first(item in order.items: item.quantity > 1)` has no field `skuu` | did you mean `sku`?",
        ),
        (
            "lower(order.payment_method).size = 1",
            "1:74 `lower(order.payment_method)` is string; it has no field `size`"
            " | `lower(order.payment_method)` has no fields: take `.size` away",
        ),
    ],
)
def test_type_and_name_problems_in_conditions(condition: str, problem: str | None, catalog: Catalog):
    text = f'rule "r" on 3dcart.order.status_changed when {condition} then capture end'
    if problem is None:  # not even a syntax: comparisons do not chain
        with pytest.raises(RuleSyntaxError):
            parse_rules(text, "t.rules")
    else:
        assert _problems(text, catalog) == [problem]


def test_an_unknown_bare_action_suggests_qualified_and_bare_names(catalog: Catalog):
    text = 'rule "r" on 3dcart.order.status_changed then captur end'
    assert _problems(text, catalog) == ["1:46 unknown action `captur` | did you mean `capture`?"]


def test_duplicate_rule_names_across_files(catalog: Catalog, tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.rules").write_text(
            'rule "same" on 3dcart.order.created then 3dcart.add_comment(text: "x") end\n'
        )
    (tmp_path / "notes.txt").write_text("not a rule file")
    diagnostics = check_paths([tmp_path], catalog)
    assert [d.message for d in diagnostics] == [
        f'duplicate rule name "same" (first defined at {tmp_path / "a.rules"}:1:1)'
    ]
    assert diagnostics[0].filename == str(tmp_path / "b.rules")


def test_check_paths_reports_unreadable_and_broken_files_without_raising(catalog: Catalog, tmp_path: Path):
    (tmp_path / "broken.rules").write_text('rule "x" on 3dcart.order.created then\n')
    (tmp_path / "wrong.rules").write_text('rule "y" on 3dcart.order.created then sezzle.captur end\n')
    diagnostics = check_paths([tmp_path, tmp_path / "missing.rules"], catalog)
    assert [(Path(d.filename).name, d.line) for d in diagnostics] == [
        ("broken.rules", 1),
        ("wrong.rules", 1),
        ("missing.rules", 0),
    ]
    assert diagnostics[2].message == "cannot read the rule file: No such file or directory"


def test_a_byte_that_is_not_utf8_is_named_by_its_line_and_column(catalog: Catalog, tmp_path: Path):
    # It was "'utf-8' codec can't decode byte 0xff in position 62": a byte offset into the file.
    path = tmp_path / "latin1.rules"
    path.write_bytes(
        'rule "e"\r\n  on 3dcart.order.created\r\n  when order.email = "caf\xe9"\r\n  then stop\r\nend\r\n'.encode(
            "latin-1"
        )
    )
    [diagnostic] = check_paths([path], catalog)
    assert diagnostic.message == "the rule file is not UTF-8 text: byte 0xe9 cannot be read"
    assert (diagnostic.line, diagnostic.column) == (3, 26)
    assert diagnostic.source_line == '  when order.email = "caf\ufffd"'
    assert reformat(path).problem == diagnostic  # `cartwire fmt` says the same


def test_a_clean_rule_set_has_no_diagnostics(catalog: Catalog):
    good = Path(__file__).resolve().parents[1] / "data" / "rules" / "good"
    assert check_paths([good], catalog) == []

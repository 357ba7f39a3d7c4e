"""What the command line refuses: each mistake ends in a short message naming where, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cartwire.cli import run_main
from cartwire.rules.loader import TEMPLATES_DIR


def cartwire(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["cartwire", *args])
    with pytest.raises(SystemExit) as exit_:
        run_main()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return int(exit_.value.code or 0), err


@pytest.mark.parametrize("command", [["run"], ["status"], ["failed", "list"], ["check", "."]])
def test_a_directory_as_the_configuration_is_named(tmp_path, monkeypatch, capsys, command):
    (tmp_path / "a.rules").write_text("")
    monkeypatch.chdir(tmp_path)
    code, err = cartwire(monkeypatch, capsys, *command, "--config", str(tmp_path))
    assert (code, err) == (2, f"error: {tmp_path}: is a directory, not a configuration file\n")


def test_run_names_a_database_in_a_missing_directory(tmp_path, monkeypatch, capsys):
    config = tmp_path / "cartwire.toml"
    config.write_text('database = "/nonexistent/dir/x.db"\n')
    code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
    assert code == 2
    assert err == f"error: {config}: database: the directory /nonexistent/dir does not exist\n"


def test_status_names_a_database_that_is_not_sqlite(tmp_path, monkeypatch, capsys):
    config = tmp_path / "cartwire.toml"
    config.write_text('database = "notes.txt"\n')
    (tmp_path / "notes.txt").write_text("these are not the tables you are looking for\n" * 50)
    code, err = cartwire(monkeypatch, capsys, "status", "--config", str(config))
    assert code == 2
    assert err.startswith(f"error: {config}: database: {Path(tmp_path / 'notes.txt')} cannot be opened")
    assert err.count("\n") == 1


PAYMENTS = TEMPLATES_DIR / "payments.rules"


def test_check_uses_the_connectors_run_loads_and_says_which_table_to_add(tmp_path, monkeypatch, capsys):
    config = tmp_path / "cartwire.toml"
    config.write_text(f'rules = ["{PAYMENTS}"]\n')
    code, err = cartwire(monkeypatch, capsys, "check", str(PAYMENTS), "--config", str(config))
    assert code == 1
    assert "unknown event type `3dcart.order.status_changed`" in err
    assert "add a [connectors.3dcart] table to cartwire.toml" in err
    config.write_text(f'rules = ["{PAYMENTS}"]\n[connectors.3dcart]\nbase_url = "http://127.0.0.1:9"\n')
    code, err = cartwire(monkeypatch, capsys, "check", str(PAYMENTS), "--config", str(config))
    assert code == 1
    assert "unknown connector `sezzle`" in err
    assert "add a [connectors.sezzle] table to cartwire.toml" in err
    # `run` refuses the same rules for the same reason, before serving anything.
    code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
    assert (code, "add a [connectors.sezzle] table to cartwire.toml" in err) == (1, True)


def test_replay_and_run_refuse_an_empty_rule_directory_as_check_does(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    sample = str(Path(__file__).parent / "data" / "3dcart" / "order-new.json")
    assert cartwire(monkeypatch, capsys, "check", str(empty)) == (1, f"error: no *.rules files in {empty}\n")
    code, err = cartwire(monkeypatch, capsys, "replay", "--rules", str(empty), sample)
    assert (code, err) == (1, f"{empty}: error: no *.rules files in {empty}\n")
    config = tmp_path / "cartwire.toml"
    config.write_text('rules = ["emptydir"]\n[connectors.webhook]\n')
    code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
    assert (code, err) == (1, f"{empty}: error: no *.rules files in {empty}\n")


def test_check_and_replay_need_no_secret_values(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CW_UNSET_SEZZLE_KEY", raising=False)
    monkeypatch.delenv("CW_UNSET_3DCART_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cartwire.toml").write_text(
        f'rules = ["{PAYMENTS}"]\n'
        '[connectors.3dcart]\nwebhook_secret = "${CW_UNSET_3DCART_SECRET}"\n'
        '[connectors.sezzle]\nprivate_key = "${CW_UNSET_SEZZLE_KEY}"\n'
    )
    code, err = cartwire(monkeypatch, capsys, "check", str(PAYMENTS))
    assert code == 0
    assert "note: cartwire.toml: CW_UNSET_3DCART_SECRET, CW_UNSET_SEZZLE_KEY not set" in err
    sample = str(Path(__file__).parent / "data" / "3dcart" / "order-status-shipped.json")
    code, err = cartwire(monkeypatch, capsys, "replay", "--rules", str(PAYMENTS), sample)
    assert code == 0
    # `run` needs them, and says which.
    code, err = cartwire(monkeypatch, capsys, "run", "--config", "cartwire.toml")
    assert code == 2
    assert "[connectors.3dcart] webhook_secret: environment variable CW_UNSET_3DCART_SECRET is not set" in err

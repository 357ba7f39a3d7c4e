"""What the command line refuses: each mistake ends in a short message naming where, never a traceback."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from cartwire.cli import run_main
from cartwire.core.store import Store
from cartwire.rules.loader import TEMPLATES_DIR
from postgres import postgres_schema, query


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


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://bob:s3cret%ZZPW@127.0.0.1:1/shop", "the database URL is not one libpq can read"),
        ("postgresql://bob:s3cretPW@[::1/shop", "the database URL is not one libpq can read"),
        ("postgresql://bob:s3cret%21PW@127.0.0.1:1/shop", "cannot connect to the PostgreSQL store"),
        ("mysql://bob:s3cretPW@db.example/shop", "mysql:// is not a store Cartwire can use"),
        ("host=127.0.0.1 password=s3cretPW@ dbname=test", "libpq's keyword form (host=… dbname=…) is not read"),
        ("postgresql:/bob:s3cretPW@127.0.0.1/test", "neither a file path nor a postgresql:// URL"),
        ("bob:s3cretPW@127.0.0.1/test", "neither a file path nor a postgresql:// URL"),
        ("//bob:s3cr/etPW@db.example.com/shop", "neither a file path nor a postgresql:// URL"),
        ("postgresql//bob:s3/cretPW@db/shop", "neither a file path nor a postgresql:// URL"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["status"], ["failed", "list"]])
def test_a_database_url_that_cannot_be_used_is_one_line_without_its_password(
    tmp_path, monkeypatch, capsys, url, says, command
):
    """The password is read from the environment so that it is in no file; no error may print it back."""
    (tmp_path / "a.rules").write_text("")
    config = tmp_path / "cartwire.toml"
    config.write_text('database = "${DBURL}"\nrules = ["a.rules"]\n')
    monkeypatch.setenv("DBURL", url)
    code, err = cartwire(monkeypatch, capsys, *command, "--config", str(config))
    assert code == 2
    assert says in err
    assert err.count("\n") == 1
    assert "s3cret" not in err
    assert "PW@" not in err


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


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE recipes (name TEXT)")
    db.commit()
    db.close()


READ_ONLY = [["status"], ["failed", "list"], ["failed", "show", "a1"], ["audit", "verify"], ["audit", "show"]]


@pytest.mark.parametrize("command", READ_ONLY)
@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_foreign, "is not a Cartwire store: it holds other tables (recipes) and none of Cartwire's"),
        (lambda path: path.write_bytes(b""), "is not a Cartwire store: it is empty (has `cartwire run` run yet?)"),
    ],
)
def test_a_store_command_refuses_a_file_that_is_not_a_store_and_adds_nothing(
    tmp_path, monkeypatch, capsys, command, make, problem
):
    database = tmp_path / "other.sqlite3"
    make(database)
    before = database.read_bytes()
    config = tmp_path / "cartwire.toml"
    config.write_text(f'database = "{database}"\n')
    code, err = cartwire(monkeypatch, capsys, *command, "--config", str(config))
    assert (code, err) == (2, f"error: {config}: database: {database} {problem}\n")
    assert database.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cartwire.toml", "other.sqlite3"]


@pytest.mark.parametrize("command", READ_ONLY)
def test_a_store_command_on_an_empty_postgresql_schema_says_so_and_adds_nothing(tmp_path, monkeypatch, capsys, command):
    with postgres_schema() as url:
        config = tmp_path / "cartwire.toml"
        config.write_text('database = "${DBURL}"\n')
        monkeypatch.setenv("DBURL", url)
        code, err = cartwire(monkeypatch, capsys, *command, "--config", str(config))
        assert (code, err) == (
            2,
            "error: the PostgreSQL database (or schema) holds no Cartwire store yet (has `cartwire run` run yet?)\n",
        )
        assert query(url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()") == [
            (0,)
        ]


def test_a_store_missing_its_audit_table_is_named(tmp_path, monkeypatch, capsys):
    database = tmp_path / "cartwire.sqlite3"
    Store(database).close()
    db = sqlite3.connect(database)
    db.executescript("DROP TRIGGER audit_no_delete; DROP TRIGGER audit_no_update; DROP TABLE audit;")
    db.close()
    config = tmp_path / "cartwire.toml"
    config.write_text(f'database = "{database}"\n')
    code, err = cartwire(monkeypatch, capsys, "audit", "verify", "--config", str(config))
    assert (code, err) == (
        2,
        f"error: {config}: database: {database} is not a Cartwire store: its audit table is missing\n",
    )
    assert "audit" not in _tables(database)


def test_run_refuses_a_file_holding_someone_elses_tables(tmp_path, monkeypatch, capsys):
    database = tmp_path / "other.sqlite3"
    _foreign(database)
    config = tmp_path / "cartwire.toml"
    config.write_text(f'database = "{database}"\n')
    code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
    assert code == 2
    assert "is not a Cartwire store: it holds other tables (recipes)" in err
    assert _tables(database) == {"recipes"}


def test_a_second_run_on_one_sqlite_store_exits_3_and_the_admin_commands_still_work(tmp_path, monkeypatch, capsys):
    config = tmp_path / "cartwire.toml"
    config.write_text('database = "cw.sqlite3"\n')
    worker = Store(tmp_path / "cw.sqlite3")
    worker.claim_worker()  # what the running `cartwire run` holds
    try:
        code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
        assert code == 3
        assert err == (
            f"error: another cartwire worker is running on this SQLite store ({tmp_path / 'cw.sqlite3.lock'} is"
            " locked); one worker per store is supported\n"
        )
        for command in (["status"], ["failed", "list"], ["audit", "verify"]):
            assert cartwire(monkeypatch, capsys, *command, "--config", str(config))[0] == 0, command
    finally:
        worker.close()


def test_the_store_commands_need_no_connector_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CW_UNSET_SEZZLE_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cartwire.toml").write_text(
        'database = "cw.sqlite3"\n[connectors.sezzle]\nprivate_key = "${CW_UNSET_SEZZLE_KEY}"\n'
    )
    Store(tmp_path / "cw.sqlite3").close()
    for command in (["status"], ["failed", "list"], ["held"], ["audit", "verify"]):
        code, err = cartwire(monkeypatch, capsys, *command)
        assert (command, code) == (command, 0), err
        assert "CW_UNSET_SEZZLE_KEY" not in err


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('rules = ["nowhere"]\n', "rules: no such file or directory: "),
        (
            f'rules = ["{PAYMENTS}"]\n[retry."nosuch"]\nattempts = 2\n',
            "no loaded connector or action is called 'nosuch'",
        ),
    ],
)
def test_run_refuses_its_configuration_before_contacting_anything(tmp_path, monkeypatch, capsys, extra, problem):
    contacted = []
    for where in ("cartwire.plugins.connector.Connector", "cartwire.plugins.threedcart.connector.ThreeDCart"):
        monkeypatch.setattr(f"{where}.prepare", lambda self: contacted.append(self.name))
    (tmp_path / "cartwire.toml").write_text(
        'database = "cw.sqlite3"\n' + extra + '[connectors.3dcart]\nwebhook_secret = "s"\n[connectors.sezzle]\n'
    )
    code, err = cartwire(monkeypatch, capsys, "run", "--config", str(tmp_path / "cartwire.toml"))
    assert code == 2
    assert problem in err
    assert err.count("\n") == 1
    assert contacted == []


@pytest.mark.parametrize("command", [["run"], ["status"]])
def test_an_empty_rules_list_is_a_config_error(tmp_path, monkeypatch, capsys, command):
    config = tmp_path / "cartwire.toml"
    config.write_text("rules = []\n")
    code, err = cartwire(monkeypatch, capsys, *command, "--config", str(config))
    assert (code, err) == (2, f"error: {config}: rules: expected at least one path, got []\n")


def test_run_names_a_port_in_use_before_anything_starts(tmp_path, monkeypatch, capsys):
    import socket

    from cartwire.core import serve

    started: list[object] = []
    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: started.append(args))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "a.rules").write_text("")
        config = tmp_path / "cartwire.toml"
        config.write_text(f'rules = ["a.rules"]\n[server]\nport = {port}\n')
        code, err = cartwire(monkeypatch, capsys, "run", "--config", str(config))
    assert (code, err) == (2, f"error: cannot listen on 127.0.0.1:{port}: address already in use\n")
    assert started == []

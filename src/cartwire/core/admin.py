"""The operator's commands on a store: `cartwire failed …`, `cartwire held`, `cartwire audit …` and
`cartwire status`.

They open the database named by the configuration file, next to (or while) `cartwire run` works
on it: SQLite serialises the writers, and the worker picks up a retried dead letter on its next pass.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from cartwire.core import audit as audit_chain
from cartwire.core import deadletters
from cartwire.core import status as status_report
from cartwire.core.config import load_config
from cartwire.core.configured_store import open_store
from cartwire.core.held import held_lines
from cartwire.core.records import DeadLetterError, Decision
from cartwire.core.store import SqlStore
from cartwire.core.timeutil import utcnow

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=Path("cartwire.toml"),
    show_default=True,
    help="Configuration file naming the database.",
)
by_option = click.option("--by", default=None, help="Who decides, for the record (default: the operating-system user).")


@contextmanager
def opened_store(config_path: Path) -> Iterator[SqlStore]:
    """The configured database; an error (not a new empty file) when it does not exist yet. Connector
    secrets are not needed to look at the store, so an unset `${NAME}` among them is no error here."""
    store = open_store(load_config(config_path, secrets_required=False), must_exist=True)
    try:
        yield store
    finally:
        store.close()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def failed() -> None:
    """Dead letters: actions that failed for good and events whose evaluation failed."""


@failed.command("list")
@config_option
def failed_list(config_path: Path) -> None:
    """One line each: id, when, rule, connector.action (or event type), entity, attempts, last error."""
    with opened_store(config_path) as store:
        lines = deadletters.list_lines(store)
    for line in lines or ["no dead letters"]:
        click.echo(deadletters.terminal_safe(line))


@failed.command("show")
@click.argument("ident", metavar="ID")
@config_option
def failed_show(ident: str, config_path: Path) -> None:
    """Everything about one dead letter (a12: an action, e7: an event)."""
    try:
        with opened_store(config_path) as store:
            lines = deadletters.show_lines(store, deadletters.parse_id(ident))
    except DeadLetterError as error:
        _fail(str(error))
    for line in lines:
        click.echo(deadletters.terminal_safe(line))


def _decide(idents: tuple[str, ...], config_path: Path, decision: Decision, by: str | None) -> None:
    if by is not None and not by.strip():
        raise click.UsageError("--by must name who decides (leave it out for the operating-system user)")
    try:
        parsed = deadletters.parse_ids(idents)
    except DeadLetterError as error:
        _fail(str(error))
    with opened_store(config_path) as store:
        done, refused = deadletters.decide(store, parsed, decision, by or getpass.getuser())
    for line in done:
        click.echo(deadletters.terminal_safe(line))
    for reason in refused:
        click.echo(f"error: {deadletters.terminal_safe(reason)}", err=True)
    if refused:
        sys.exit(1)


@failed.command("retry")
@click.argument("idents", metavar="ID...", nargs=-1, required=True)
@config_option
@by_option
def failed_retry(idents: tuple[str, ...], config_path: Path, by: str | None) -> None:
    """Put dead letters back to work: an action with its original idempotency key, an event re-evaluated."""
    _decide(idents, config_path, "retry", by)


@failed.command("discard")
@click.argument("idents", metavar="ID...", nargs=-1, required=True)
@config_option
@by_option
def failed_discard(idents: tuple[str, ...], config_path: Path, by: str | None) -> None:
    """Mark dead letters as dealt with; they are kept, with who discarded them and when."""
    _decide(idents, config_path, "discard", by)


@click.command()
@config_option
def held(config_path: Path) -> None:
    """Events a rule's `hold "reason"` set aside: id, when, rule, entity, reason."""
    with opened_store(config_path) as store:
        lines = held_lines(store)
    for line in lines or ["no held events"]:
        click.echo(deadletters.terminal_safe(line))  # the reason may quote what a webhook sent


@click.group()
def audit() -> None:
    """The hash-chained audit log of every event, decision and action."""


def _hash_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A head is a hash as `audit verify` prints it; anything else is a typo, not a broken chain."""
    if value is not None and not audit_chain.is_hash(value):
        raise click.BadParameter(f"{value!r} is not a valid hash: a head is 64 hex digits, as `audit verify` prints it")
    return value.lower() if value is not None else None  # printed in lower case; a pasted upper case still matches


@audit.command("verify")
@click.option(
    "--head",
    "known_head",
    default=None,
    callback=_hash_option,
    help="A head hash printed by an earlier verify: it must still be there.",
)
@click.option(
    "--count", "known_count", type=click.IntRange(min=1), default=None, help="The entry count printed with that head."
)
@config_option
def audit_verify(known_head: str | None, known_count: int | None, config_path: Path) -> None:
    """Walk the chain; exit 1 at the first entry that was changed or removed.

    Entries cut off the end leave a valid shorter chain: keep the printed head and count elsewhere
    and pass them back with --head/--count to catch that.
    """
    with opened_store(config_path) as store:
        verdict = audit_chain.verify(store.audit_chain(), known_head=known_head, known_count=known_count)
    if verdict.broken is not None:
        _fail(verdict.render())
    click.echo(verdict.render())


@audit.command("show")
@click.option("--entity", default=None, help="Only this entity, e.g. 3dcart:order:5001.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    # Past the largest row number of either store is every entry: no store takes a larger integer.
    callback=lambda _context, _option, limit: min(limit, 2**63 - 1),
    default=50,
    show_default=True,
    help="The latest N entries.",
)
@config_option
def audit_show(entity: str | None, limit: int, config_path: Path) -> None:
    """The latest entries, oldest first."""
    with opened_store(config_path) as store:
        entries = store.audit_entries(entity=entity, limit=limit)
    if not entries:
        click.echo("no audit entries" + (f" for entity {entity!r}" if entity is not None else ""))
    for entry in entries:
        click.echo(deadletters.terminal_safe(audit_chain.render_entry(entry)))


@click.command()
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
def status(output: str, config_path: Path) -> None:
    """Events and actions by state, success rate, processing time, and the oldest pending item."""
    with opened_store(config_path) as store:
        report = status_report.gather(store, utcnow())
    if output == "json":
        click.echo(json.dumps(status_report.as_json(report), indent=2))
        return
    for line in status_report.render_text(report):
        click.echo(deadletters.terminal_safe(line))

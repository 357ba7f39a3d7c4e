"""The commands `cartwire record`, `cartwire replay` and `cartwire test` (docs/testing-rules.md)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from cartwire.core.config import load_config
from cartwire.core.store import Store
from cartwire.replay.record import redactor_from_environment, stored_records, write_records

KEEP_PERSONAL_HELP = "Keep names, emails, phones, addresses and IPs (secrets are removed all the same)."


def _moment(text: str | None) -> datetime | None:
    """An ISO date or date-time; one without an offset is read as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time such as 2026-11-27T10:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("cartwire.toml"), show_default=True
)
@click.option("--since", help="First moment of the period (received at or after), ISO date or date-time.")
@click.option("--until", help="End of the period (received before), ISO date or date-time.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Recording file.")
@click.option("--keep-personal-data", is_flag=True, help=KEEP_PERSONAL_HELP)
def record(config_path: Path, since: str | None, until: str | None, output: Path, keep_personal_data: bool) -> None:
    """Write the stored events of a period to a recording (redacted; see docs/recording.md).

    Placeholders are consistent within one recording; set $CARTWIRE_RECORD_SALT to keep them the same
    across recordings.
    """
    config = load_config(config_path)
    if not config.database.exists():
        click.echo(f"error: no store at {config.database}", err=True)
        sys.exit(2)
    store = Store(config.database)
    try:
        redactor = redactor_from_environment(keep_personal_data=keep_personal_data)
        count = write_records(output, stored_records(store, redactor, _moment(since), _moment(until)))
    finally:
        store.close()
    click.echo(f"recorded {count} event{'s' if count != 1 else ''} to {output}")

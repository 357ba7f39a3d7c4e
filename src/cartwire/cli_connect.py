"""`cartwire connect <service>`: one-time set-up that needs a person (a browser sign-in)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pydantic import ValidationError

from cartwire.core.config import load_config
from cartwire.plugins.connector import ActionError


@click.group()
def connect() -> None:
    """Connect Cartwire to an account that needs a sign-in (QuickBooks Online)."""


@connect.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("cartwire.toml"), show_default=True
)
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for the redirect.")
def quickbooks(config_path: Path, timeout: float) -> None:
    """Authorize a QuickBooks Online company: prints Intuit's link and receives the redirect on loopback."""
    from cartwire.plugins.quickbooks.authorize import ConnectError, connect_company
    from cartwire.plugins.quickbooks.models import QuickBooksSettings

    config = load_config(config_path)
    values = next((v for k, v in config.connectors.items() if k in ("quickbooks", "qbo")), None)
    if values is None:
        click.echo(f"error: {config_path} has no [connectors.quickbooks] section", err=True)
        sys.exit(2)
    try:
        settings = QuickBooksSettings.model_validate(dict(values))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False))
        click.echo(f"error: [connectors.quickbooks]: {problems}", err=True)
        sys.exit(2)
    try:
        connected = connect_company(settings, click.echo, timeout=timeout)
    except (ConnectError, ActionError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"Connected company {connected.realm_id}; tokens stored encrypted in {connected.token_file}")

"""`cartwire connect <service>`: one-time set-up that needs a person (a browser sign-in, or the
webhook subscriptions of a payment account)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

import click
from pydantic import BaseModel, ValidationError

from cartwire.core.config import load_config
from cartwire.plugins.connector import ActionError

_Settings = TypeVar("_Settings", bound=BaseModel)
_CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("cartwire.toml"), show_default=True
)


def _settings(config_path: Path, names: tuple[str, ...], model: type[_Settings]) -> _Settings:
    """The `[connectors.<name>]` section of the configuration as `model`; exit 2 with the reason if it is unusable."""
    config = load_config(config_path)
    values = next((v for k, v in config.connectors.items() if k in names), None)
    if values is None:
        click.echo(f"error: {config_path} has no [connectors.{names[0]}] section", err=True)
        sys.exit(2)
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False))
        click.echo(f"error: [connectors.{names[0]}]: {problems}", err=True)
        sys.exit(2)


@click.group()
def connect() -> None:
    """Connect Cartwire to an account: QuickBooks Online sign-in, Sezzle webhook subscriptions."""


@connect.command()
@_CONFIG_OPTION
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for the redirect.")
def quickbooks(config_path: Path, timeout: float) -> None:
    """Authorize a QuickBooks Online company: prints Intuit's link and receives the redirect on loopback."""
    from cartwire.plugins.quickbooks.authorize import ConnectError, connect_company
    from cartwire.plugins.quickbooks.models import QuickBooksSettings

    settings = _settings(config_path, ("quickbooks", "qbo"), QuickBooksSettings)
    try:
        connected = connect_company(settings, click.echo, timeout=timeout)
    except (ConnectError, ActionError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"Connected company {connected.realm_id}; tokens stored encrypted in {connected.token_file}")


@connect.command()
@_CONFIG_OPTION
@click.option("--webhooks", is_flag=True, help="Manage the webhook subscriptions (required for now).")
@click.option("--url", default=None, help="The public URL of /hooks/sezzle (default: webhook_url in the config).")
@click.option("--list", "list_only", is_flag=True, help="Only list the subscriptions.")
@click.option("--delete", "delete_uuids", multiple=True, metavar="UUID", help="Delete this subscription (repeatable).")
def sezzle(config_path: Path, webhooks: bool, url: str | None, list_only: bool, delete_uuids: tuple[str, ...]) -> None:
    """Subscribe Cartwire's webhook URL to the Sezzle events it needs; running it again changes nothing."""
    from cartwire.plugins.sezzle import Sezzle, SezzleSettings

    if not webhooks:
        click.echo("error: say what to connect: `cartwire connect sezzle --webhooks`", err=True)
        sys.exit(2)
    connector = Sezzle(_settings(config_path, ("sezzle",), SezzleSettings))
    try:
        for uuid in delete_uuids:
            connector.delete_webhook(uuid)
            click.echo(f"deleted {uuid}")
        if not list_only and not delete_uuids:
            change = connector.ensure_webhooks(url)
            click.echo(f"{change.action} {change.subscription.uuid} {change.subscription.url}")
        for sub in connector.list_webhooks():
            click.echo(f"subscription {sub.uuid} {sub.url} {','.join(sub.events)}")
    except ActionError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    finally:
        connector.close()

"""The `cartwire` command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cartwire.cli_connect import connect
from cartwire.core.admin import audit, failed, held, status
from cartwire.core.backend import StoreUnavailable
from cartwire.core.catalog import Catalog
from cartwire.core.config import Config, ConfigError, build_connectors, default_connectors, load_config
from cartwire.core.configured_store import open_store
from cartwire.core.engine import RuleError
from cartwire.core.functions import Library
from cartwire.grammar.diagnostics import render_all
from cartwire.plugins.connector import ActionError, Connector
from cartwire.plugins.manager import PluginError, connector_registry, make_plugin_manager
from cartwire.replay.commands import record, replay, test_command
from cartwire.scaffold import new_connector

CONFIG_HELP = "Configuration file (default: ./cartwire.toml when it exists)."


def _config(path: Path | None) -> Config | None:
    """The configuration for check and replay, which need no secret: unset `${NAME}`s read as empty."""
    if path is None:
        path = Path("cartwire.toml")
        if not path.exists():
            return None
    config = load_config(path, secrets_required=False)
    if config.unset_variables:
        names = ", ".join(sorted(set(config.unset_variables)))
        click.echo(f"note: {path}: {names} not set; those settings are empty (not needed to check or replay)", err=True)
    return config


def _connectors(config: Config | None) -> list[Connector]:
    """With a configuration, exactly the connectors `run` loads; without, every registered one."""
    registry = connector_registry()
    if config is None:
        return default_connectors(registry)
    return build_connectors(registry, config.connectors, config_file=config.path)


def configured_catalog(connectors: list[Connector]) -> Catalog:
    """The catalog of `connectors`, knowing which installed connectors were left out of the configuration."""
    registry = connector_registry()
    loaded = {connector.name for connector in connectors}
    left_out = {alias for alias, name in registry.by_alias.items() if name not in loaded}
    return Catalog(connectors, unconfigured=left_out)


@click.group()
@click.version_option(package_name="cartwire")
def main() -> None:
    """Cartwire keeps a store, its payment provider and its back office in step, driven by rules."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on stdout, for editors and CI (docs/language.md).",
)
def check(paths: tuple[Path, ...], config_path: Path | None, output: str) -> None:
    """Check rule files (or directories of *.rules; default: the configuration's `rules`) without running anything."""
    from cartwire.rules.loader import check_paths, rule_files, rule_library
    from cartwire.rules.report import check_report

    config = _config(config_path)
    if not paths:
        if config is None:
            click.echo("error: name the rule files or directories to check, or run it beside a cartwire.toml", err=True)
            sys.exit(2)
        paths = tuple(path for path in config.rules if path.exists())
        if len(paths) < len(config.rules):
            missing = next(path for path in config.rules if not path.exists())
            click.echo(f"error: {config.path}: rules: {missing} does not exist", err=True)
            sys.exit(1)
    files = rule_files(paths)
    if not files:
        click.echo(f"error: no *.rules files in {', '.join(map(str, paths))}", err=True)
        sys.exit(1)
    diagnostics = check_paths(list(paths), configured_catalog(_connectors(config)), rule_library(config))
    errors = sum(1 for d in diagnostics if d.severity == "error")
    if output == "json":
        click.echo(check_report(diagnostics, len(files)))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.render(), err=True)
        if errors:
            click.echo(f"{errors} error{'s' if errors != 1 else ''}", err=True)
        else:
            click.echo(f"ok: {len(files)} rule file{'s' if len(files) != 1 else ''} checked")
    if errors:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if a file would change (for CI).")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print the changes as a unified diff.")
def fmt(paths: tuple[Path, ...], check_only: bool, show_diff: bool) -> None:
    """Rewrite rule files (or directories of *.rules) in the canonical layout (see docs/formatting.md)."""
    from cartwire.rules.reformat import reformat_paths, summary

    outcomes = reformat_paths(paths)
    if not outcomes:
        click.echo(f"error: no *.rules files in {', '.join(map(str, paths))}", err=True)
        sys.exit(1)
    write = not (check_only or show_diff)
    for outcome in outcomes:
        if outcome.problem is not None:
            click.echo(outcome.problem.render(), err=True)
        elif outcome.changed:
            if show_diff:
                click.echo(outcome.diff(), nl=False)
            if write:
                outcome.write()
            click.echo(f"{'reformatted' if write else 'would reformat'} {outcome.path}", err=True)
    click.echo(summary(outcomes, written=write), err=True)
    if any(o.problem is not None for o in outcomes) or (check_only and any(o.changed for o in outcomes)):
        sys.exit(1)


def setup_for(config_path: Path | None) -> tuple[Catalog, Library]:
    """The connectors of the configuration (or every registered one with default settings) and the
    functions rules may call, with its [rates] and time zone; the file is read (and noted) once."""
    from cartwire.rules.loader import rule_library

    config = _config(config_path)
    return configured_catalog(_connectors(config)), rule_library(config)


@main.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("cartwire.toml"), show_default=True
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append each stored delivery to this recording; its salt is kept in FILE.salt (docs/recording.md).",
)
@click.option(
    "--keep-personal-data", is_flag=True, help="With --record: keep personal data (secrets are removed all the same)."
)
def run(config_path: Path, record_path: Path | None, keep_personal_data: bool) -> None:
    """Serve webhooks at /hooks/<connector>[/<secret>] and run the worker until interrupted."""
    from cartwire.core.poller import Pollers
    from cartwire.core.ratelimit import apply_rate_limits
    from cartwire.core.retry import RetryPolicies
    from cartwire.core.runtime import LogObserver, Runtime
    from cartwire.core.scheduler import Scheduler
    from cartwire.core.serve import CannotListen, Closable, listen, serve
    from cartwire.plugins.policy import RetryPolicy
    from cartwire.replay.record import start_recording
    from cartwire.rules.loader import load_rules, rule_library

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: a line per remote call (an event's actions are logged by the
    # runtime already), and an outgoing webhook's URL may carry its destination's secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = load_config(config_path)
    recording = None
    if record_path is not None:  # before anything starts: a recording that cannot be written stops the start
        try:
            recording = start_recording(record_path, keep_personal_data=keep_personal_data)
        except OSError as error:
            raise click.ClickException(str(error)) from None
    store = open_store(config)  # first: a wrong database is named before anything else
    try:
        store.claim_worker()
    except StoreUnavailable as error:  # exits like uvicorn's failed startup, as it did before this was checked first
        click.echo(f"error: {error}", err=True)
        sys.exit(3)
    connectors = build_connectors(connector_registry(), config.connectors, config_file=config.path)
    try:
        apply_rate_limits(connectors, config.rate_limits)
        RetryPolicies(configured_catalog(connectors), RetryPolicy(), config.retry)  # a [retry."scope"] naming nothing
    except ValueError as error:
        raise ConfigError(f"{config_path} {error}") from None
    missing = [str(path) for path in config.rules if not path.exists()]
    if missing:  # before any connector is contacted, like every other configuration mistake
        raise ConfigError(f"{config_path} rules: no such file or directory: {', '.join(missing)}")
    try:  # before any connector is contacted or the worker starts: a port in use is a setup error
        sock = listen(config.host, config.port)
    except CannotListen as error:
        store.close()
        raise ConfigError(str(error)) from None
    try:  # the socket is closed on any way out, a rule error included (serve closes it too)
        for connector in connectors:
            try:
                connector.prepare()
            except ActionError as error:
                logging.getLogger("cartwire").warning("%s: using the configured settings: %s", connector.name, error)
        catalog = configured_catalog(connectors)
        engine = load_rules(config.rules, catalog, rule_library(config))
        runtime = Runtime(
            store, catalog, engine, retries=config.retry, observer=LogObserver(), concurrency=config.concurrency
        )
        closing: list[Closable] = [store, *connectors]
        if recording is not None:
            writer, runtime.recorder = recording
            closing.append(writer)
        serve(
            runtime,
            config.host,
            config.port,
            closing=closing,
            stop_timeout=config.stop_timeout,
            services=[Pollers(runtime), Scheduler(runtime)],
            sock=sock,
        )
    finally:
        sock.close()


@main.command()
def demo() -> None:
    """Play the sample story on local emulators and check the end state (exit 1 if wrong)."""
    from cartwire.demo import run_demo

    sys.exit(run_demo(click.echo))


@main.command()
def plugins() -> None:
    """List the loaded plugins and the connectors they provide."""
    pm = make_plugin_manager()
    distributions = {id(plugin): dist.project_name for plugin, dist in pm.list_plugin_distinfo()}
    for name, plugin in pm.list_name_plugin():
        click.echo(f"{name}  ({distributions.get(id(plugin), 'cartwire, built in')})")
    registry = connector_registry(pm)
    for name, cls in sorted(registry.classes.items()):
        aliases = f" (also {', '.join(cls.aliases)})" if cls.aliases else ""
        click.echo(f"  connector {name}{aliases}: {cls.__module__}.{cls.__qualname__}")


main.add_command(record)
main.add_command(replay)
main.add_command(test_command)
main.add_command(failed)
main.add_command(held)
main.add_command(audit)
main.add_command(status)
main.add_command(connect)
main.add_command(new_connector)


def run_main() -> None:
    """Entry point that turns user errors into clear messages: rule errors exit 1, setup errors 2."""
    try:
        main(standalone_mode=True)
    except RuleError as error:
        click.echo(render_all(error.diagnostics), err=True)
        sys.exit(1)
    except (ConfigError, PluginError, StoreUnavailable) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    run_main()

"""The `recs` command line: parses arguments and calls the use cases; one subcommand per job."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

import click

from recs import __version__
from recs.config import Settings, SettingsError
from recs.instance import Instance, init_instance, load, open_instance
from recs.keys import SecretsError
from recs.logs import setup_logging

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What every subcommand gets: the config path and lazily opened settings and instance."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._instance: Instance | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load(self.config, os.environ)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings

    def instance(self) -> Instance:
        if self._instance is None:
            try:
                self._instance = open_instance(self.settings, os.environ)
            except (SecretsError, RuntimeError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._instance

    def close(self) -> None:
        if self._instance is not None:
            self._instance.close()


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $RECS_CONFIG, else ./config.toml if present).",
)
@click.version_option(__version__, prog_name="recs")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """recs: music recommendations for a household, from its own Spotify listening."""
    obj = Context(config)
    ctx.obj = obj
    ctx.call_on_close(obj.close)
    try:
        setup_logging(obj.settings.instance.log_level)
    except click.ClickException:
        setup_logging("INFO")


@main.command()
@pass_ctx
def init(obj: Context) -> None:
    """Create the data folder and secrets, and migrate the database (safe to run again)."""
    try:
        report = init_instance(obj.settings, os.environ)
    except SecretsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"data folder:  {report.data_dir}")
    click.echo(f"database:     {report.database_url}")
    if report.secrets_created:
        click.echo(f"secrets:      created {obj.settings.secrets_path} (mode 0600)")
    else:
        click.echo(f"secrets:      {obj.settings.secrets_path} (kept)")
    if report.revision_before == report.revision_after:
        click.echo(f"migrations:   up to date ({report.revision_after})")
    else:
        click.echo(f"migrations:   {report.revision_before or 'empty'} -> {report.revision_after}")


def _register_commands() -> None:
    """Import every module of recs.commands; each attaches its subcommands to `main`."""
    import importlib
    import pkgutil

    import recs.commands

    for info in sorted(pkgutil.iter_modules(recs.commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"recs.commands.{info.name}")


def _load_plugins() -> None:
    """Commands that live above this package (the web app's `serve`, `demo`) register as entry points."""
    for ep in entry_points(group="recs.commands"):
        command = ep.load()
        if isinstance(command, click.Command) and command.name not in main.commands:
            main.add_command(command)


def run() -> None:
    _load_plugins()
    main(prog_name="recs")


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())  # type: ignore[func-returns-value]

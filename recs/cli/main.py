"""The `recs` command line: parses arguments and calls the use cases; one subcommand per job."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

import click

from recs import __version__
from recs.cli import accounts, emulator, imports, prior, publishing, radar, sync, training, worker
from recs.cli.context import Context, pass_ctx
from recs.core.keys import SecretsError
from recs.core.logs import setup_logging
from recs.storage import Database, StorageError, describe_failure
from recs.usecases.instance import InstanceError, init_instance

F = TypeVar("F", bound=Callable[..., Any])


log = logging.getLogger("recs.cli.main")


def explain(exc: Exception, obj: Context | None) -> str | None:
    """One line for the operator about a filesystem or database failure, or None for anything else (a bug)."""
    if isinstance(exc, SecretsError | InstanceError | StorageError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}: check that the user running recs may use it"
    if obj is not None and obj._settings is not None:
        try:
            db = Database(obj._settings.database_url)
        except StorageError as bad_url:
            return str(bad_url)
        try:
            return describe_failure(exc, db)
        finally:
            db.dispose()
    return None


class Group(click.Group):
    """The `recs` group: what goes wrong with the instance's files or database ends in one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, click.ClickException | click.exceptions.Exit | click.Abort):
                raise
            line = explain(exc, ctx.find_object(Context))
            if line is None:
                raise
            log.debug("the failure in full", exc_info=True)  # the traceback, for log_level = "DEBUG"
            raise click.ClickException(line) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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


@click.command()
@pass_ctx
def init(obj: Context) -> None:
    """Create the data folder and secrets, and migrate the database (safe to run again)."""
    report = init_instance(obj.settings, os.environ)  # its errors become one line in Group.invoke
    click.echo(f"data folder:  {report.data_dir}")
    click.echo(f"database:     {report.database_url}")
    if report.secrets_created:
        click.echo(f"secrets:      created {report.secrets_path} (mode 0600)")
    else:
        click.echo(f"secrets:      {report.secrets_path} (kept)")
    if report.revision_before == report.revision_after:
        click.echo(f"migrations:   up to date ({report.revision_after})")
    else:
        click.echo(f"migrations:   {report.revision_before or 'empty'} -> {report.revision_after}")


def _load_plugins() -> None:
    """Commands that live above this package (the web app's `serve`, `demo`) register as entry points."""
    for ep in entry_points(group="recs.commands"):
        command = ep.load()
        if isinstance(command, click.Command) and command.name not in main.commands:
            main.add_command(command)


def run() -> None:
    _load_plugins()
    main(prog_name="recs")


# Every subcommand, listed here (no registration by import side effect); the web app's come as entry points.
COMMANDS: tuple[click.Command, ...] = (
    init,
    accounts.members,
    accounts.invite,
    accounts.consent,
    accounts.delete_member,
    accounts.rotate_key,
    sync.sync,
    imports.import_export,
    training.train,
    training.recommend,
    publishing.publish,
    publishing.refresh,
    publishing.blend,
    radar.radar,
    worker.worker,
    worker.backup,
    prior.prior,
    emulator.emulator,
)
for _command in COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())  # type: ignore[func-returns-value]

"""`recs worker` and `recs backup`: the scheduler process and an on-demand database backup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from recs.cli import Context, main, pass_ctx


@main.command()
@click.option(
    "--once",
    "once",
    type=click.Choice(["sync", "library", "train", "publish", "backup", "resolve"]),
    default=None,
    help="Run one job now through the ledger and exit, instead of scheduling.",
)
@pass_ctx
def worker(obj: Context, once: str | None) -> None:
    """Run the scheduler: polling, nightly training, publishing, library refresh, backups."""
    from recs.scheduling import Worker

    # Backups and training never call Spotify; everything else the worker does needs the app.
    instance = obj.instance(spotify=once not in ("backup", "train"))
    w = Worker(instance)
    if once:
        outcome = w.fire(once)
        click.echo(
            f"{outcome.job} [{outcome.trigger_key}]: {outcome.status}"
            + (f" - {outcome.error}" if outcome.error else "")
        )
        if outcome.status not in ("succeeded", "skipped"):
            raise SystemExit(1)
        return
    scheduler = w.build()
    click.echo(f"recs worker {w.worker}: {len(scheduler.get_jobs())} jobs scheduled; Ctrl-C to stop")
    for job in scheduler.get_jobs():
        click.echo(f"  {job.id:<9} {job.trigger}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("stopping")


@main.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=Path), required=False)
@pass_ctx
def backup(obj: Context, path: Path | None) -> None:
    """Write a consistent copy of the SQLite database to PATH (default: <data_dir>/backups/)."""
    from recs.jobs import backup_path
    from recs.storage.jobs import backup_sqlite

    instance = obj.instance()
    target = path or backup_path(instance.settings, datetime.now(UTC))
    if target.is_dir():
        target = target / backup_path(instance.settings, datetime.now(UTC)).name
    try:
        written = backup_sqlite(instance.db, target)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written: {written} ({written.stat().st_size:,} bytes)")
    click.echo(
        "Keep data/secrets.toml with it; restore: stop recs, copy the file over data/recs.sqlite3, run `recs init`."
    )

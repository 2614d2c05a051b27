"""`recs worker` and `recs backup`: the scheduler process and an on-demand database backup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from recs.cli.context import Context, pass_ctx


@click.command()
@click.option(
    "--once",
    "once",
    type=click.Choice(["sync", "library", "train", "publish", "backup", "resolve", "radar"]),
    default=None,
    help="Run one job now through the ledger and exit, instead of scheduling.",
)
@pass_ctx
def worker(obj: Context, once: str | None) -> None:
    """Run the scheduler: polling, nightly training, publishing, library refresh, backups, Release Radar checks."""
    import signal

    from recs.cli.scheduling import Worker
    from recs.usecases import jobs

    # Backups and training never call Spotify; everything else the worker does needs the app.
    instance = obj.instance(spotify=once not in ("backup", "train"))
    w = Worker(instance)

    def on_stop(signum: int, _frame: object) -> None:
        # SIGTERM (systemd, docker stop) and Ctrl-C stop the worker: its running job is killed and
        # recorded as interrupted. Only a flag is set here; the worker's threads act on it.
        jobs.STOP.request(f"the worker was stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    # Runs left 'running' by a worker that died are settled now, not an hour from now.
    jobs.settle_dead_runs(instance, w.clock())
    if once:
        outcome = w.fire(once)
        click.echo(
            f"{outcome.job} [{outcome.trigger_key}]: {outcome.status}"
            + (f" - {outcome.error}" if outcome.error else "")
        )
        if outcome.status not in ("succeeded", "skipped"):
            raise SystemExit(1)
        return
    w.serve(on_start=lambda lines: click.echo("\n".join(lines)))
    click.echo(f"stopped ({jobs.STOP.why}); a job that was running is recorded as interrupted")


@click.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=Path), required=False)
@pass_ctx
def backup(obj: Context, path: Path | None) -> None:
    """Write a consistent copy of the SQLite database to PATH (default: <data_dir>/backups/)."""
    from recs.usecases.jobs import backup_path, backup_to

    instance = obj.instance()
    try:
        written = backup_to(instance, path or backup_path(instance.settings, datetime.now(UTC)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written: {written} ({written.stat().st_size:,} bytes)")
    click.echo(
        "Keep data/secrets.toml with it; restore: stop recs, copy the file over data/recs.sqlite3, run `recs init`."
    )

"""`recs import`: import a member's Spotify data export from the command line, with a progress bar and a printed report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recs.cli.context import Context, pass_ctx

if TYPE_CHECKING:
    from recs.usecases.imports import ImportReport


def format_report(report: ImportReport) -> list[str]:
    """The report as printed lines."""
    first = report.first_played_at.strftime("%Y-%m-%d %H:%M") if report.first_played_at else "-"
    last = report.last_played_at.strftime("%Y-%m-%d %H:%M") if report.last_played_at else "-"
    lines = [
        f"import #{report.import_id} for member {report.member_id} ({report.seconds:.1f} s)",
        f"files:            {', '.join(report.files)}",
    ]
    if report.ignored_files:
        lines.append(f"ignored files:    {', '.join(report.ignored_files)}")
    lines += [
        f"rows read:        {report.rows_read}",
        f"plays imported:   {report.plays_imported} (of {report.plays_read}; {report.duplicate_plays} duplicates)",
        f"short streams:    {report.short_streams_imported} kept as skip signals "
        f"(of {report.short_streams_read}; {report.duplicate_short_streams} duplicates)",
        f"time range:       {first} .. {last} UTC",
        f"distinct tracks:  {report.distinct_tracks}",
    ]
    if report.names_matched or report.names_unmatched:
        lines.append(
            f"by name only:     {report.names_matched} tracks matched, {report.names_unmatched} kept by name to resolve later"
        )
    if report.saved_tracks or report.followed_artists:
        lines.append(
            f"library:          {report.saved_tracks} saved tracks, {report.followed_artists} followed artists added"
        )
    if report.playlists:
        lines.append(f"playlists:        {report.playlists} ({report.playlist_items} tracks)")
    lines.append(f"gaps filled:      {report.gaps_filled}")
    if report.skipped:
        lines.append("skipped:          " + ", ".join(f"{reason} {n}" for reason, n in report.skipped.items()))
    return lines


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--member", "member_id", type=int, required=True, help="Id of the member whose export this is.")
@pass_ctx
def import_export(obj: Context, paths: tuple[Path, ...], member_id: int) -> None:
    """Import a Spotify data export: the downloaded zip, a folder, or JSON files, in any mix."""
    from recs.usecases.imports import ImportRejected, run_import

    instance = obj.instance()
    bar: Any = None
    shown = 0

    def progress(done: int, total: int) -> None:
        nonlocal bar, shown
        if shown >= max(total, 1):
            return
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label="importing", file=sys.stderr)
            bar.__enter__()
        bar.update(done - shown)
        shown = done
        if done >= total:  # close the bar before the report (and any log line) is printed
            bar.__exit__(None, None, None)
            bar = None

    interactive = sys.stderr.isatty()
    try:
        report = run_import(
            instance.db, instance.settings, member_id, list(paths), progress=progress if interactive else None
        )
    except ImportRejected as exc:
        raise click.ClickException(f"import refused: {exc}") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for line in format_report(report):
        click.echo(line)

"""`recs radar`: Release Radar's plan, today's artist checks and the weekly playlists, from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from recs.cli.context import Context, pass_ctx


def _now() -> datetime:
    return datetime.now(UTC)


@click.group()
def radar() -> None:
    """Release Radar: new tracks from the artists each member loves most (docs/release-radar.md)."""


@radar.command()
@pass_ctx
def plan(obj: Context) -> None:
    """Say how many loved artists are checked a day and whether that fits in the API budget."""
    from recs.usecases import release_radar

    for line in release_radar.plan_words(release_radar.household(obj.instance(), _now())):
        click.echo(line)


@radar.command()
@pass_ctx
def check(obj: Context) -> None:
    """Check the artists due today now (what the worker's daily radar job does)."""
    from recs.usecases import release_radar

    report = release_radar.check_day(obj.instance(spotify=True), _now)
    click.echo(
        f"{report.checked} of {report.due} artists due checked, {report.found} new tracks found, {report.calls} calls"
    )
    if report.stopped:
        click.echo(f"stopped early: {report.stopped}")
    for error in report.errors:
        click.echo(f"  {error}", err=True)


@radar.command()
@click.option("--member", "member_id", type=int, default=None, help="Only this member, now, due or not.")
@pass_ctx
def publish(obj: Context, member_id: int | None) -> None:
    """Write the Release Radar playlists whose weekly time has come (one member's now, with --member)."""
    from recs.usecases import release_radar

    instance = obj.instance(spotify=True)
    obj.require_member(member_id)
    summary = release_radar.publish_due(instance, _now(), member_id=member_id)
    click.echo(f"{summary['radar_written']} written, {summary['radar_unchanged']} unchanged, {summary['calls']} calls")
    for error in summary["errors"]:
        click.echo(f"  {error}", err=True)
    if summary["errors"]:
        raise SystemExit(1)

"""`recs sync`: one sync of every consenting member (or one), printing what it found and what it cost."""

from __future__ import annotations

import click

from recs.cli.context import Context, pass_ctx


@click.command()
@click.option("--member", "member_id", type=int, default=None, help="Only this member id.")
@click.option("--force", is_flag=True, help="Read every stream now, even those not due yet.")
@pass_ctx
def sync(obj: Context, member_id: int | None, force: bool) -> None:
    """Sync listening and library from Spotify once; per member: new plays, saved tracks, gaps, calls, errors."""
    from datetime import UTC, datetime

    from recs.usecases import ingest
    from recs.usecases.budget import Budget

    def now() -> datetime:
        return datetime.now(UTC)

    instance = obj.instance(spotify=True)
    obj.require_member(member_id)
    reports = ingest.sync_all(
        instance, now=now, force=force or member_id is not None, member_ids=[member_id] if member_id else None
    )
    if not reports:
        click.echo("no member has agreed to have their listening stored yet")
    failed = False
    for r in reports:
        line = (
            f"member {r.member_id}: {r.new_plays} new plays, {r.saved_tracks} saved tracks, "
            f"{r.gaps} gaps, {r.calls} calls"
        )
        if r.skipped:
            line += f" ({r.skipped})"
        click.echo(line)
        for error in r.errors:
            failed = True
            click.echo(f"  error: {error}")
        if r.gaps:
            click.echo("  plays may be missing for a while: request your data export from Spotify and import it")
    budget = Budget(instance.db, instance.settings.budget, now)
    pause = budget.pause()
    click.echo(f"API calls in the last 24 h: {budget.used()} of {instance.settings.budget.daily_calls}")
    if pause is not None:
        click.echo(f"Spotify calls paused until {pause.until:%Y-%m-%d %H:%M} UTC: {pause.reason}")
    if failed:
        raise SystemExit(1)

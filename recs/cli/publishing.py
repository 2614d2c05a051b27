"""`recs publish`, `recs refresh` and `recs blend`: write recommendation playlists, one whole round (sync, train, publish) for cron, or the household Blend."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from recs.cli.context import Context, pass_ctx


def _now() -> datetime:
    return datetime.now(UTC)


@click.command()
@click.option("--member", "member_id", type=int, default=None, help="Only this member (id from `recs members`).")
@click.option("--dry-run", is_flag=True, help="Print what would be written; call nothing, change nothing.")
@pass_ctx
def publish(obj: Context, member_id: int | None, dry_run: bool) -> None:
    """Write each consenting member's recommendation playlists to Spotify now."""
    from recs.usecases.accounts import consenting
    from recs.usecases.playlists import publish_member

    instance = obj.instance(spotify=not dry_run)
    obj.require_member(member_id)
    ids = [member_id] if member_id is not None else consenting(instance.db, "publish")
    if not ids:
        click.echo("no member has agreed to have playlists written; nothing to do")
        return
    failed = 0
    for mid in ids:
        try:
            results = publish_member(instance, mid, _now(), dry_run=dry_run)
        except Exception as exc:
            failed += 1
            click.echo(f"member {mid}: failed: {exc}", err=True)
            continue
        for r in results:
            line = f"member {mid} {r.kind:<10} {r.status:<9} {len(r.uris):>3} tracks"
            if r.playlist_id:
                line += f"  playlist {r.playlist_id}"
            if r.note:
                line += f"  ({r.note})"
            click.echo(line)
            if dry_run:
                for uri in r.uris:
                    click.echo(f"    {uri}")
    if failed:
        raise SystemExit(1)


@click.command()
@click.option("--member", "member_id", type=int, default=None, help="Sync and publish only this member.")
@pass_ctx
def refresh(obj: Context, member_id: int | None) -> None:
    """One whole round for cron: sync listening, train the model, publish playlists; non-zero exit if a step failed."""
    from recs.usecases import ingest, training
    from recs.usecases.accounts import consenting
    from recs.usecases.playlists import publish_member

    instance = obj.instance(spotify=True)
    obj.require_member(member_id)
    problems: list[str] = []
    reports = ingest.sync_all(instance, now=_now, member_ids=[member_id] if member_id is not None else None)
    for r in reports:
        state = f"skipped ({r.skipped})" if r.skipped else f"{r.new_plays} new plays, {r.calls} calls"
        click.echo(f"sync    member {r.member_id}: {state}")
        problems += [f"sync member {r.member_id}: {e}" for e in r.errors]
    try:
        summary = training.train(instance, now=_now())
        click.echo(f"train   run {summary.run_id}: serving {summary.model_kind} ({summary.note or 'ok'})")
    except training.TrainingError as exc:
        click.echo(f"train   skipped: {exc}")
    except Exception as exc:
        problems.append(f"train: {exc}")
        click.echo(f"train   failed: {exc}", err=True)
    ids = [member_id] if member_id is not None else consenting(instance.db, "publish")
    for mid in ids:
        try:
            for p in publish_member(instance, mid, _now()):
                note = f"; {p.note}" if p.note else ""
                click.echo(f"publish member {mid} {p.kind}: {p.status} ({len(p.uris)} tracks{note})")
        except Exception as exc:
            problems.append(f"publish member {mid}: {exc}")
            click.echo(f"publish member {mid}: failed: {exc}", err=True)
    if problems:
        click.echo(f"\n{len(problems)} step(s) failed:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        raise SystemExit(1)
    click.echo("refresh complete")


@click.command()
@click.option("--no-write", is_flag=True, help="Make and store the Blend, but write nothing to Spotify.")
@pass_ctx
def blend(obj: Context, no_write: bool) -> None:
    """Make this week's household Blend now and write each participant's copy (docs/blend.md)."""
    from recs.usecases import blends

    instance = obj.instance(spotify=not no_write)
    now = _now()
    outcome = blends.make_blend(instance, now)
    if outcome.status == "no-run":
        click.echo("no model run yet: run `recs train` first")
        return
    if outcome.status == "too-few":
        click.echo("no Blend made: it needs at least two members who agreed to the Blend and to training")
    else:
        click.echo(f"Blend {outcome.blend_id}: {len(outcome.uris)} tracks from {len(outcome.participants)} members")
    if no_write:
        return
    failed = 0
    for r in blends.write_copies(instance, outcome, now):
        line = f"member {r.member_id} blend {r.status:<9} {len(r.uris):>3} tracks"
        if r.playlist_id:
            line += f"  playlist {r.playlist_id}"
        if r.note:
            line += f"  ({r.note})"
        click.echo(line, err=r.status == "failed")
        failed += r.status == "failed"
    if failed:
        raise SystemExit(1)

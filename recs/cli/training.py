"""`recs train` and `recs recommend`: run a training now, and print a member's current list with explanations."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from recs.cli.context import Context, pass_ctx

_SHOWN = ("ndcg@10", "recall@50", "coverage@10", "novelty@10")


def _metrics_line(name: str, values: dict[str, float]) -> str:
    cells = "  ".join(f"{k} {values[k]:.4f}" if k in values else f"{k} -" for k in _SHOWN)
    return f"  {name:<44} {cells}"


@click.command()
@pass_ctx
def train(obj: Context) -> None:
    """Train the household model now and store fresh recommendations (the previous ones serve until done)."""
    from recs.usecases import training

    instance = obj.instance()

    def progress(stage: str) -> None:
        click.echo(f"... {stage}", err=True)

    try:
        summary = training.train(instance, progress=progress)
    except training.TrainingError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"run {summary.run_id}: serving {summary.model_kind} ({summary.chosen})")
    click.echo(f"  {summary.note}")
    size = summary.data_size
    click.echo(
        f"data: {summary.members} member(s), {size.get('plays', 0)} plays, {size.get('sessions', 0)} sessions, "
        f"{size.get('playlists', 0)} playlists -> {size.get('rows', 0)} rows x {size.get('items', 0)} items, "
        f"{size.get('nnz', 0)} cells"
    )
    if summary.metrics:
        click.echo("hold-out (each member's last days, new-to-member tracks):")
        click.echo(_metrics_line(f"{summary.chosen} (chosen)", summary.metrics))
        for name, values in sorted(summary.baselines.items()):
            click.echo(_metrics_line(name, values))
    else:
        click.echo("hold-out: none (no recent listening to hold out)")
    click.echo("timings: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in summary.timings.items()))
    click.echo(f"stored {summary.recommendations} recommendations")


@click.command()
@click.option("--member", "member_id", type=int, required=True, help="Member id (see the dashboard or `recs members`).")
@click.option(
    "--mode",
    type=click.Choice(["discover", "rediscover"]),
    default="discover",
    show_default=True,
    help="discover: tracks never played; rediscover: old favourites not played for a long while.",
)
@click.option("--limit", type=int, default=30, show_default=True, help="How many to print.")
@pass_ctx
def recommend(obj: Context, member_id: int, mode: str, limit: int) -> None:
    """Print a member's current recommendations with their explanations (what the dashboard shows)."""
    from recs.usecases.accounts import find_member
    from recs.usecases.recommendations import current_recommendations

    instance = obj.instance()
    member = find_member(instance.db, member_id)
    if member is None:
        raise click.ClickException(f"no member with id {member_id}")
    # Hidden tracks, blocked artists and (for discover) tracks played since are left out, as on the dashboard.
    recs = current_recommendations(instance.db, member_id, mode, today=datetime.now(UTC).date())
    if not recs:
        raise click.ClickException(
            f"no {mode} recommendations for member {member_id} yet: run `recs train` (the member must consent to training)"
        )
    click.echo(f"{mode} for {member.display_name or member.spotify_id} (run {recs[0].run_id}):")
    for r in recs[:limit]:
        t = r.track
        title = f"{t.name} - {', '.join(t.artist_names)}" if t else f"track {r.track_id}"
        score = f"{r.score:.3f}" if r.score is not None else "  -  "
        click.echo(f"{r.rank:>4}. {title}  [{score}]")
        if r.explanation:
            click.echo(f"      {r.explanation}")

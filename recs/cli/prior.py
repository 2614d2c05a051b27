"""`recs prior ...`: build (and fetch the inputs of) the community prior from ListenBrainz's listen dumps."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from recs.cli.context import Context, pass_ctx

if TYPE_CHECKING:
    from recs.usecases.prior.build import BuildSummary, Tick

SHOWN_PROBLEMS = 20
_WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@click.group()
def prior() -> None:
    """The community prior: item factors over Spotify tracks, from ListenBrainz's public (CC0) listen dumps."""


def format_summary(summary: BuildSummary) -> list[str]:
    """The build's report as printed lines."""
    m = summary.manifest
    c = m["counts"]
    rejected = ", ".join(f"{k} {v:,}" for k, v in c["rejected"].items() if v) or "none"
    model = m["model"]
    lines = [
        f"wrote {summary.path}",
        f"lines read:   {c['lines_read']:,}",
        f"kept:         {c['lines_kept']:,} listens with a Spotify track id ({c['duplicates']:,} duplicates dropped)",
        f"rejected:     {rejected}",
        f"trained on:   {c['users']:,} users x {c['tracks']:,} tracks, {c['pairs']:,} cells "
        f"(min listeners {m['filters']['min_listeners']}, min tracks per user {m['filters']['min_user_tracks']})",
        f"model:        ALS, {model['factors']} factors, alpha {model['alpha']}, "
        f"regularization {model['regularization']}, {model['iterations']} iterations",
        "timings:      " + ", ".join(f"{k} {v:.1f} s" for k, v in m["timings_s"].items()),
    ]
    for problem in summary.problems[:SHOWN_PROBLEMS]:
        lines.append(f"problem:      {problem.line()}")
    if len(summary.problems) > SHOWN_PROBLEMS:
        lines.append(f"problem:      ... and {len(summary.problems) - SHOWN_PROBLEMS} more (see the log)")
    return lines


@prior.command("build")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where the prior goes (*.prior.npz)."
)
@click.option("--since", type=click.DateTime(_WHEN), default=None, help="Only listens at or after this time (UTC).")
@click.option("--until", type=click.DateTime(_WHEN), default=None, help="Only listens before this time (UTC).")
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Where to run: this machine (implicit), or Apache Spark (pip install 'recs[spark]', Java 17).",
)
@click.option(
    "--master",
    default="local[*]",
    show_default=True,
    help="Spark master URL for --engine spark (spark://host:7077, yarn, k8s://…).",
)
@click.option(
    "--checkpoint-dir",
    default=None,
    help="--engine spark on a cluster: storage every executor reaches (hdfs://…) for ALS checkpoints.",
)
@click.option("--factors", type=int, default=64, show_default=True, help="ALS factors per track.")
@click.option("--iterations", type=int, default=15, show_default=True, help="ALS iterations.")
@click.option("--regularization", type=float, default=0.05, show_default=True, help="ALS regularization.")
@click.option("--alpha", type=float, default=10.0, show_default=True, help="Confidence is 1 + alpha * weight.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the factors' initialisation.")
@click.option(
    "--min-listeners", type=int, default=3, show_default=True, help="Tracks with fewer distinct listeners are left out."
)
@click.option(
    "--min-user-tracks", type=int, default=5, show_default=True, help="Users with fewer distinct tracks are left out."
)
@click.option(
    "--cap", type=int, default=20, show_default=True, help="Listens of one track by one user counted at most."
)
@click.option(
    "--solver",
    type=click.Choice(["exact", "cg"]),
    default="exact",
    show_default=True,
    help="Local engine's ALS solver: exact least squares per row (as Spark's; the two engines agree), or "
    "implicit's conjugate gradient (3 steps: faster to train, a different effective regularization).",
)
@click.option("--processes", type=int, default=0, help="Parsing processes and training threads (default: one per CPU).")
def build(
    dumps: tuple[Path, ...],
    out: Path,
    since: object,
    until: object,
    engine: str,
    master: str,
    checkpoint_dir: str | None,
    factors: int,
    iterations: int,
    regularization: float,
    alpha: float,
    seed: int,
    min_listeners: int,
    min_user_tracks: int,
    cap: int,
    solver: str,
    processes: int,
) -> None:
    """Build a prior from listen dumps: .tar.zst archives, extracted folders or .listens files, in any mix."""
    from datetime import UTC, datetime

    from recs.usecases.prior.build import BuildOptions, PriorBuildError, build_prior

    def utc(value: object) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    options = BuildOptions(
        since=utc(since),
        until=utc(until),
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=iterations,
        seed=seed,
        min_listeners=min_listeners,
        min_user_tracks=min_user_tracks,
        cap=cap,
        processes=processes,
        solver=solver,
    )
    interactive = sys.stderr.isatty()

    def tick(t: Tick) -> None:
        click.echo("\r" + t.line().ljust(100), nl=False, err=True)

    try:
        if engine == "spark":
            from recs.usecases.prior.spark import build_prior_spark

            summary = build_prior_spark(
                list(dumps),
                out,
                options,
                master=master,
                checkpoint_dir=checkpoint_dir,
                tick=tick if interactive else None,
            )
        else:
            summary = build_prior(list(dumps), out, options, tick=tick if interactive else None)
    except PriorBuildError as exc:
        if interactive:
            click.echo(err=True)
        raise click.ClickException(str(exc)) from None
    if interactive:
        click.echo(err=True)
    for line in format_summary(summary):
        click.echo(line)


@prior.command("download")
@click.option(
    "--days", type=click.IntRange(1), default=None, help="Daily incrementals of this many days [prior.download_days]."
)
@click.option("--full", "full", default=None, metavar="latest|ID|NAME", help="Fetch this full dump instead (large).")
@click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder [prior.download_dir]."
)
@click.option("--mirror", default=None, help="Mirror base URL [prior.mirror_url].")
@pass_ctx
def download(obj: Context, days: int | None, full: str | None, dest: Path | None, mirror: str | None) -> None:
    """Fetch listen dumps from a ListenBrainz mirror: resumes with HTTP ranges, verifies published checksums."""
    from recs.usecases.prior.download import DownloadError
    from recs.usecases.prior.download import download as fetch

    settings = obj.settings
    folder = dest or settings.prior_download_path
    interactive = sys.stderr.isatty()

    def progress(name: str, done: int, total: int | None) -> None:
        of = f" of {total / 1e6:,.1f}" if total else ""
        click.echo(f"\r{name}: {done / 1e6:,.1f}{of} MB".ljust(100), nl=False, err=True)

    try:
        got = fetch(
            mirror or settings.prior.mirror_url,
            folder,
            days=days or settings.prior.download_days,
            full=full,
            progress=progress if interactive else None,
        )
    except DownloadError as exc:
        if interactive:
            click.echo(err=True)
        raise click.ClickException(str(exc)) from None
    if interactive:
        click.echo(err=True)
    for item in got:
        how = (
            "already there, verified"
            if item.already_there
            else f"{item.size / 1e6:,.1f} MB, verified"
            + (f", resumed at {item.resumed_from:,} bytes" if item.resumed_from else "")
        )
        click.echo(f"{item.path} ({how})")

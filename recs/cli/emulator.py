"""`recs emulator`: run the Spotify emulator on its own until stopped (for the demo and manual testing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--members", default=5, show_default=True, type=click.IntRange(1, 50), help="Household members.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generated catalogue and household.")
@click.option(
    "--quota", default=1000, show_default=True, type=click.IntRange(0), help="Web API calls per rolling 24 h (0: none)."
)
@click.option(
    "--rate-limit",
    default=150,
    show_default=True,
    type=click.IntRange(0),
    help="Web API calls per rolling 30 s (0: none).",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Emulated time to start at, UTC (default: now). The members' history ends there.",
)
@click.option(
    "--clock",
    type=click.Choice(["wall", "manual"]),
    default="wall",
    show_default=True,
    help="wall: emulated time follows real time (members keep listening, Retry-After clears); "
    "manual: it moves only through the control API.",
)
@click.option(
    "--listenbrainz-dumps",
    "listenbrainz_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write a ListenBrainz community (one full dump, daily incrementals) of the same seed here and serve it as a dump mirror.",
)
def emulator(
    host: str,
    port: int,
    members: int,
    seed: int,
    quota: int,
    rate_limit: int,
    start: datetime | None,
    clock: str,
    listenbrainz_dir: Path | None,
) -> None:
    """Serve the emulated Spotify accounts service and Web API; prints the base URLs."""
    import signal
    import sys
    import threading
    import time

    from recs.emulator import EmulatorServer

    # a service manager stops us with SIGTERM: leave through the same clean path as Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    # Today by default: a clock fixed in the past made all listening weeks old ("no member has new tracks").
    begin = (start.replace(tzinfo=UTC) if start else datetime.now(UTC)).replace(microsecond=0)
    server = EmulatorServer(
        seed=seed,
        members=members,
        quota_per_day=quota or None,
        rate_limit_per_30s=rate_limit or None,
        listenbrainz_dir=listenbrainz_dir,
        start=begin,
        wall_clock=time.time if clock == "wall" else None,
        host=host,
        port=port,
    )
    if listenbrainz_dir is not None:
        from recs.emulator.listenbrainz import write_community_dumps

        dumps = write_community_dumps(listenbrainz_dir, seed=seed, members=members)
        for dump in dumps.files:
            click.echo(f"listenbrainz dump: {dump.path} ({dump.lines} lines)")
    server.start()
    if listenbrainz_dir is not None:
        click.echo(f"listenbrainz mirror: {server.listenbrainz_mirror_url}")
    click.echo(f"base URL:          {server.base_url}")
    click.echo(f"api_base_url:      {server.api_base_url}")
    click.echo(f"accounts_base_url: {server.accounts_base_url}")
    click.echo(f"control API:       {server.base_url}/_emulator/")
    click.echo(f"client_id:         {server.client_id}")
    click.echo(f"client_secret:     {server.client_secret}")
    for m in server.control.members():
        flag = "" if m["allowlisted"] else "  (not allowlisted)"
        click.echo(f"member:            {m['display_name']:<8} {m['user_id']}{flag}")
    moves = "follows the wall clock" if clock == "wall" else "moves only through the control API"
    click.echo(f"clock:             {begin.isoformat()} ({moves})")
    click.echo("serving until stopped (Ctrl-C)", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

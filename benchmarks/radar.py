"""Benchmark of Release Radar over an emulated month: a household's loved artists checked on the budget plan, with recall and precision.

Run: .venv/bin/python benchmarks/radar.py [--members 5] [--loved 200] [--days 30] [--daily-calls 800] [--other-calls 165]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import date, timedelta

from recs.core.config import SpotifySettings
from recs.core.radar import (
    KnownTracks,
    ReleasedTrack,
    checks_today,
    collect_signals,
    due_today,
    find_new_tracks,
    household_order,
    plan,
    rank_loved,
)
from recs.emulator import EmulatorServer
from recs.spotify.client import BareApi, CountingApi
from recs.spotify.releases import SpotifyReleases
from recs.usecases.budget import CEILINGS

WINDOW_DAYS = 14


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--loved", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--daily-calls", type=int, default=800)
    parser.add_argument("--other-calls", type=int, default=165, help="calls a day everything else takes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    with EmulatorServer(seed=args.seed, members=args.members, quota_per_day=None, rate_limit_per_30s=None) as server:
        control, world = server.control, server.emulator
        catalog = world.catalog
        now = control.now()
        index = {a: i for i, a in enumerate(sorted(catalog.artists))}
        spotify_id = {i: a for a, i in index.items()}
        truth_plays = control.ground_truth()["plays"]
        known = KnownTracks()
        heard: set[str] = set()
        loved = {}
        for n, user in enumerate(m["user_id"] for m in control.members()):
            plays = [p for p in truth_plays if p["user_id"] == user]
            for p in plays:
                t = catalog.tracks[p["track_id"]]
                heard.add(t.id)
                known.add(ReleasedTrack(t.id, t.name, t.artist_ids, t.isrc))
            signals = collect_signals(
                [(control.now(), [index[a] for a in catalog.tracks[p["track_id"]].artist_ids]) for p in plays],
                saved=[],
                followed=[],
                top_artists=[],
                now=now,
            )
            loved[n] = rank_loved(signals, limit=args.loved)
        order = [spotify_id[i] for i in household_order(loved)]
        p = plan(len(order), args.daily_calls, CEILINGS["radar"], args.other_calls, WINDOW_DAYS)
        print(
            f"household: {args.members} members, loved {[len(v) for v in loved.values()]}, {len(order)} distinct; "
            f"plan: {p.per_day} a day, cycle {p.cycle_days} d, {p.calls_per_day:.0f} calls a day expected, "
            f"headroom {p.headroom}, fits {p.fits}"
        )
        start = now.date()
        last: dict[str, date] = {}
        found: dict[str, str] = {}
        per_day: list[int] = []
        for _ in range(args.days):
            control.advance(days=1)
            today = control.now().date()
            token = control.sign_in(control.members()[0]["user_id"])["access_token"]
            api = CountingApi(BareApi(SpotifySettings(api_base_url=server.api_base_url), token))
            source = SpotifyReleases(api)
            quota = min(p.per_day, checks_today(p.headroom))
            since = (today - timedelta(days=WINDOW_DAYS)).isoformat()
            for artist_id in due_today(order, last, today, quota, p.cycle_days):
                for new in find_new_tracks(source, artist_id, since, known):
                    found.setdefault(new.track.spotify_id, new.album.release_date)
                last[artist_id] = today
            per_day.append(api.total)
        end = control.now().date()
        # every release from the window of the first cycle's last check to a cycle before the end must be found
        first = start + timedelta(days=p.cycle_days - WINDOW_DAYS)
        last_day = end - timedelta(days=p.cycle_days)
        loved_ids = set(order)
        truth = {
            t
            for r in control.releases(since=first, until=last_day)["releases"]
            for a, ts in r["new_tracks_by_artist"].items()
            if a in loved_ids
            for t in ts
            if t not in heard
        }
        got = {t for t, day in found.items() if first.isoformat() <= day <= last_day.isoformat()}
        hit = got & truth
        kinds = Counter(r["kind"] for r in control.releases(since=first, until=last_day)["releases"])
        print(f"releases {first}..{last_day}: {dict(kinds)}")
        print(
            f"new tracks of loved artists: {len(truth)}, found {len(got)}, "
            f"recall {len(hit) / max(len(truth), 1):.3f}, precision {len(hit) / max(len(got), 1):.3f}"
        )
        print(
            f"radar calls a day: mean {sum(per_day) / len(per_day):.1f}, max {max(per_day)} "
            f"(headroom {p.headroom}; with everything else {max(per_day) + args.other_calls} of "
            f"{int(args.daily_calls * CEILINGS['radar'])} at the radar's ceiling)"
        )
    print(f"wall {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

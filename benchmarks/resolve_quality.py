"""Precision and recall of recs' name resolution (search + match rule) against the emulator's ground truth.

Names come as the account-data export writes them (primary artist name, track name) for tracks the members
played; each is searched as recs searches it (recs.spotify.search over HTTP) and matched by recs' rule
(recs.usecases.imports.resolve.pick_match). A resolved name is correct when it is the very track played.

Run: .venv/bin/python benchmarks/resolve_quality.py [--seed 0] [--names 300]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from recs.core.config import SpotifySettings
from recs.core.names import track_key
from recs.emulator import EmulatorServer
from recs.spotify.client import SpotifyApi, make_spotify
from recs.spotify.search import SpotifyTrackSearch
from recs.usecases.imports.resolve import pick_match

T = TypeVar("T")


@dataclass(frozen=True)
class Quality:
    names: int
    resolved: int
    correct: int
    ambiguous: int  # names that more than one recording carries (no rule on names alone can always be right)
    crowded: int = 0  # names whose search answer also holds another track of that title (a copy, cover or twin)

    @property
    def precision(self) -> float:
        return self.correct / self.resolved if self.resolved else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.names if self.names else 0.0


class _TokenOnly:
    """The least a spotipy client needs: a bearer token (the emulator's, for one member)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_access_token(self, as_dict: bool = False) -> str:
        return self.token


class _DirectApi:
    """SpotifyApi's call() without ledger or refresh: enough to drive recs' search against the emulator."""

    def __init__(self, settings: SpotifySettings, token: str) -> None:
        self.sp = make_spotify(settings, _TokenOnly(token))

    def call(self, purpose: str, endpoint: str, fn: Callable[[Any], T], *, expect_body: bool = True) -> T:
        return fn(self.sp)


def track_search(server: EmulatorServer) -> SpotifyTrackSearch:
    """recs' production search, as the first member, over HTTP."""
    control = server.control
    token = control.sign_in(control.members()[0]["user_id"])["access_token"]
    settings = SpotifySettings(api_base_url=server.api_base_url)
    return SpotifyTrackSearch(cast(SpotifyApi, _DirectApi(settings, token)))


def measure(server: EmulatorServer, names: int, seed: int = 0) -> Quality:
    control = server.control
    search = track_search(server)
    catalog = server.emulator.catalog
    played = sorted({p["track_id"] for p in control.ground_truth(since=control.now() - timedelta(days=60))["plays"]})
    sample = random.Random(seed).sample(played, min(names, len(played)))
    recordings: dict[str, set[str]] = {}
    for track in catalog.tracks.values():
        key = track_key(catalog.artists[track.artist_ids[0]].name, track.name)
        recordings.setdefault(key, set()).add(track.original_id or track.id)
    resolved = correct = ambiguous = crowded = 0
    for track_id in sample:
        track = catalog.tracks[track_id]
        artist = catalog.artists[track.artist_ids[0]].name
        key = track_key(artist, track.name)
        ambiguous += len(recordings[key]) > 1
        candidates = search(artist, track.name)
        title = key.partition("|")[2]
        crowded += sum(track_key("", c.name).partition("|")[2] == title for c in candidates) > 1
        match = pick_match(candidates, key)
        if match is not None:
            resolved += 1
            correct += match.spotify_id == track_id
    return Quality(len(sample), resolved, correct, ambiguous, crowded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--names", type=int, default=300)
    args = parser.parse_args()
    started = time.perf_counter()
    with EmulatorServer(seed=args.seed, members=5, quota_per_day=None, rate_limit_per_30s=None) as server:
        q = measure(server, args.names, args.seed)
    print(
        f"seed {args.seed}: {q.names} names, {q.resolved} resolved, {q.correct} correct, {q.ambiguous} ambiguous, "
        f"{q.crowded} crowded; "
        f"precision {q.precision:.3f}, recall {q.recall:.3f} ({time.perf_counter() - started:.1f} s)"
    )


if __name__ == "__main__":
    main()

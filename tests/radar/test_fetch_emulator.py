"""Release Radar's fetch against the emulator's release stream: recall and precision over an emulated month."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from recs.core.config import SpotifySettings
from recs.core.radar import KnownTracks, NewTrack, ReleasedTrack, find_new_tracks
from recs.emulator import EmulatorServer
from recs.spotify.client import BareApi, CountingApi
from recs.spotify.releases import SpotifyReleases

WINDOW_DAYS = 14


def test_a_month_of_weekly_checks_finds_every_new_release_of_loved_artists() -> None:
    with EmulatorServer(seed=5, members=2, quota_per_day=None, rate_limit_per_30s=None) as server:
        control, world = server.control, server.emulator
        user = control.members()[0]["user_id"]
        catalog = world.catalog
        played = [p["track_id"] for p in control.ground_truth(user_id=user)["plays"]]
        # what recs knows: the member's played tracks; loved: their 40 most played artists
        known = KnownTracks()
        for track_id in set(played):
            t = catalog.tracks[track_id]
            known.add(ReleasedTrack(t.id, t.name, t.artist_ids, t.isrc))
        loved = [a for a, _ in Counter(catalog.tracks[t].artist_ids[0] for t in played).most_common(40)]
        start = control.now().date()
        found: dict[tuple[str, str], NewTrack] = {}
        calls: Counter[str] = Counter()
        for _ in range(5):  # a check a week, each looking back over the window
            control.advance(days=7)
            today = control.now().date()
            token = control.sign_in(user)["access_token"]
            api = CountingApi(BareApi(SpotifySettings(api_base_url=server.api_base_url), token))
            source = SpotifyReleases(api)
            since = (today - timedelta(days=WINDOW_DAYS)).isoformat()
            for artist_id in loved:
                for new in find_new_tracks(source, artist_id, since, known):
                    found.setdefault((new.artist_id, new.track.spotify_id), new)
            assert {purpose for purpose, _ in api.calls} == {"radar"}
            calls += Counter({endpoint: n for (_, endpoint), n in api.calls.items()})
        truth_releases = control.releases(since=start - timedelta(days=7), until=today)["releases"]
        # new to the world and not already played by the member (the radar skips what they heard)
        heard = set(played)
        # per track, as the playlist has it: a track crediting two loved artists is found once
        truth = {
            t
            for r in truth_releases
            for a, ts in r["new_tracks_by_artist"].items()
            if a in loved
            for t in ts
            if t not in heard
        }
        # what was looked at: releases from the first check's window start on
        seen_from = (start + timedelta(days=7 - WINDOW_DAYS)).isoformat()
        got = {v.track.spotify_id for v in found.values() if v.album.release_date >= seen_from}
        hit = got & truth
        recall, precision = len(hit) / len(truth), len(hit) / len(got)
        kinds = Counter(r["kind"] for r in truth_releases if r["artist_id"] in loved)
        print(f"\nradar: {len(truth)} new tracks, found {len(got)}, recall {recall:.3f}, precision {precision:.3f}")
        print(f"calls {dict(calls)} for {len(loved)} artists x 5 checks; releases by kind {dict(kinds)}")
        assert truth and recall == 1.0
        assert precision >= 0.9
        # every truth kind that must be skipped was met
        assert {"deluxe", "remaster", "compilation", "feature"} & set(kinds)

"""recs' name resolution (its search and match rule) against the emulator's ranked fuzzy search and near-duplicates."""

from __future__ import annotations

from benchmarks.resolve_quality import measure, track_search
from recs.core.names import track_key
from recs.emulator import EmulatorServer
from recs.usecases.imports.resolve import pick_match


def test_resolution_finds_the_played_track_among_remasters_live_takes_and_compilations() -> None:
    with EmulatorServer(seed=4, members=5, quota_per_day=None, rate_limit_per_30s=None) as server:
        quality = measure(server, names=80, seed=4)
    assert quality.names == 80
    # wrong answers come only from names several recordings share (docs/benchmarks/resolve.md)
    assert quality.resolved - quality.correct <= quality.ambiguous
    assert quality.precision >= 0.95 and quality.recall >= 0.95


def test_names_covered_by_tribute_acts_or_copied_on_deluxe_editions_resolve_to_the_original() -> None:
    with EmulatorServer(seed=0, members=1, quota_per_day=None, rate_limit_per_30s=None) as server:
        search = track_search(server)
        cat = server.emulator.catalog
        keys: dict[str, set[str]] = {}
        for t in cat.tracks.values():
            keys.setdefault(track_key(cat.artists[t.artist_ids[0]].name, t.name), set()).add(t.original_id or t.id)
        copies = [
            t for t in cat.tracks.values() if cat.albums[t.album_id].version in ("tribute", "deluxe") and t.original_id
        ]
        assert {cat.albums[t.album_id].version for t in copies} == {"tribute", "deluxe"}
        met = 0
        for copy in copies[::4]:
            original = cat.tracks[copy.original_id or ""]
            artist = cat.artists[original.artist_ids[0]].name
            key = track_key(artist, original.name)
            if len(keys[key]) > 1:
                continue  # the artist has another song of that title: names alone cannot tell
            candidates = search(artist, original.name)
            met += copy.id in {c.spotify_id for c in candidates}
            match = pick_match(candidates, key)
            assert match is not None and match.spotify_id == original.id, (artist, original.name)
        assert met >= 10, "the look-alike was among the search answers"

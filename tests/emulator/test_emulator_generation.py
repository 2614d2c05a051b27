"""Seeded generation: determinism, valid ids, listening with real structure, exports shaped like real ones, speed."""

from __future__ import annotations

import io
import itertools
import json
import re
import time
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from recs.emulator import ControlClient, Emulator, EmulatorServer
from recs.emulator.catalog import generate_catalog
from recs.emulator.export import export_zip

ID = re.compile(r"^[0-9A-Za-z]{22}$")
ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")


def plays_of(e: Emulator) -> list[tuple[Any, ...]]:
    return [
        (p.user_id, p.at_ms, p.track_id, p.ms_played, p.context_uri, p.skipped)
        for u in e.household.members
        for p in e.household.plays_until(u, e.now_ms)
    ]


def test_same_seed_same_world_other_seed_other_world() -> None:
    raw = generate_catalog.__wrapped__  # bypass the cache: generate twice for real
    a, b = raw(5), raw(5)
    assert list(a.tracks) == list(b.tracks) and list(a.artists) == list(b.artists)
    assert [t.isrc for t in a.tracks.values()] == [t.isrc for t in b.tracks.values()]
    e1, e2, e3 = Emulator(5, 3, history_days=60), Emulator(5, 3, history_days=60), Emulator(6, 3, history_days=60)
    assert plays_of(e1) == plays_of(e2) and plays_of(e1) != plays_of(e3)
    assert (e1.client_id, e1.client_secret) == (e2.client_id, e2.client_secret)
    user = next(iter(e1.household.members))
    assert export_zip(e1, user) == export_zip(e2, user)


def test_listening_does_not_depend_on_how_the_clock_moved() -> None:
    coarse, fine = Emulator(9, 2, history_days=10), Emulator(9, 2, history_days=10)
    coarse.advance(3 * 86_400)
    for _ in range(72):
        fine.advance(3_600)
    assert plays_of(coarse) == plays_of(fine)


def test_ids_and_isrcs_are_valid() -> None:
    cat = generate_catalog(0)
    assert len(cat.tracks) > 2000 and len(cat.artists) > 200
    for collection in (cat.tracks, cat.albums, cat.artists):
        assert all(ID.match(i) for i in collection)
    assert all(ISRC.match(t.isrc) for t in cat.tracks.values())
    # one ISRC per recording: a compilation's or deluxe edition's copy shares its original's; remasters, live
    # takes and tribute covers (other recordings) have their own
    shared = ("compilation", "deluxe")
    originals = [t for t in cat.tracks.values() if cat.albums[t.album_id].version not in shared]
    assert len({t.isrc for t in originals}) == len(originals)
    copies = [t for t in cat.tracks.values() if cat.albums[t.album_id].version in shared and t.original_id]
    assert copies and all(t.original_id and cat.tracks[t.original_id].isrc == t.isrc for t in copies)
    assert {cat.albums[t.album_id].version for t in copies} == set(shared)


@pytest.fixture(scope="module")
def world() -> Emulator:
    return Emulator(0, 5, history_days=180)


def test_popularity_is_long_tailed(world: Emulator) -> None:
    counts = Counter(p.track_id for u in world.household.members for p in world.household.plays_until(u, world.now_ms))
    ranked = sorted(counts.values(), reverse=True)
    head = sum(ranked[: len(ranked) // 20])
    assert head / sum(ranked) > 0.25, "the top 5% of tracks take a large share of plays"
    assert sum(1 for n in ranked if n <= 2) / len(ranked) > 0.3, "and a long tail is heard once or twice"
    assert len(counts) < len(world.catalog.tracks), "not every track is heard"


def test_tastes_are_shared_by_some_members_and_not_others(world: Emulator) -> None:
    top: dict[str, set[str]] = {}
    for u in world.household.members:
        c = Counter(
            world.catalog.tracks[p.track_id].artist_ids[0] for p in world.household.plays_until(u, world.now_ms)
        )
        top[u] = {a for a, _ in c.most_common(30)}
    users = list(top)
    overlaps = [len(top[a] & top[b]) / 30 for i, a in enumerate(users) for b in users[i + 1 :]]
    assert max(overlaps) >= 0.2, "some members share favourite artists"
    assert min(overlaps) <= 0.05, "others share next to none"


def test_sessions_daily_rhythm_repeats_and_skips(world: Emulator) -> None:
    for u in world.household.members:
        plays = world.household.plays_until(u, world.now_ms)
        hours = Counter(datetime.fromtimestamp(p.at_ms / 1000, tz=UTC).hour for p in plays)
        busiest = sum(n for _, n in hours.most_common(6))
        assert busiest / len(plays) > 0.45, "listening clusters around each member's usual hours"
        gaps = [b.at_ms - b.ms_played - a.at_ms for a, b in itertools.pairwise(plays)]
        assert sum(1 for g in gaps if 0 <= g <= 3_000) / len(gaps) > 0.7, "plays come in back-to-back sessions"
        skipped = sum(p.skipped for p in plays) / len(plays)
        assert 0.03 < skipped < 0.35
        assert Counter(p.track_id for p in plays).most_common(1)[0][1] >= 10, "favourites are repeated"


def test_library_follows_taste(world: Emulator) -> None:
    h = world.household
    for u, m in h.members.items():
        genres = set(m.genres)
        saved = h.saved_until(u, world.now_ms)
        in_taste = sum(world.catalog.primary_artist(t).genre in genres for _, t in saved)
        assert in_taste / len(saved) > 0.8
        own = [p for p in h.playlists.values() if p.owner_id == u and not p.collaborative]
        assert 2 <= len(own) <= 4
        items = [it.track_id for p in own for it in p.items if it.kind == "track"]
        assert sum(world.catalog.primary_artist(t).genre in genres for t in items) / len(items) > 0.8


def test_export_matches_ground_truth(control: ControlClient, member_id: str) -> None:
    data = control.export_zip(member_id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert all(
            re.fullmatch(r"Spotify Extended Streaming History/Streaming_History_Audio_\d{4}(-\d{4})?_\d+\.json", n)
            for n in names
        )
        rows = [row for n in names for row in json.loads(zf.read(n))]
    truth = control.ground_truth(member_id)["plays"]
    assert len(rows) == len(truth)
    assert sorted((r["ts"], r["spotify_track_uri"], r["ms_played"]) for r in rows) == sorted(
        (p["played_at"][:19] + "Z", f"spotify:track:{p['track_id']}", p["ms_played"]) for p in truth
    )
    stamps = [r["ts"] for r in rows]
    assert stamps != sorted(stamps), "offline plays are logged when they sync: files are not sorted by ts"
    assert any(r["incognito_mode"] for r in rows) and any(r["skipped"] for r in rows)


@pytest.mark.realdata
def test_export_rows_have_the_keys_and_types_of_a_real_export(
    shared_data: Path, control: ControlClient, member_id: str
) -> None:
    real = json.loads((shared_data / "spotify-exports/extended_2024plus/Streaming_History_Audio_2026.json").read_text())

    def types(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for row in rows:
            for key, value in row.items():
                out.setdefault(key, set()).add(type(value).__name__)
        return out

    with zipfile.ZipFile(io.BytesIO(control.export_zip(member_id))) as zf:
        generated = [row for n in zf.namelist() for row in json.loads(zf.read(n))]
    assert [list(r) for r in generated[:1]] == [list(real[0])], "same keys in the same order"
    assert types(generated) == types(real)


def test_a_month_for_five_members_advances_in_under_five_seconds(server: EmulatorServer) -> None:
    started = time.perf_counter()
    answer = requests.post(server.base_url + "/_emulator/clock/advance", json={"seconds": 30 * 86_400}, timeout=30)
    elapsed = time.perf_counter() - started
    assert answer.json()["new_plays"] > 5 * 30 * 5, "a month of listening was generated"
    assert elapsed < 5.0, f"advancing a month took {elapsed:.2f} s"


@pytest.mark.realdata
def test_account_data_export_has_the_shape_of_a_real_one(
    shared_data: Path, control: ControlClient, member_id: str
) -> None:
    real_dir = shared_data / "spotify-exports/account_data"
    with zipfile.ZipFile(io.BytesIO(control.export_zip(member_id, package="account"))) as zf:
        files = {n.rsplit("/", 1)[1]: json.loads(zf.read(n)) for n in zf.namelist()}
    assert {"StreamingHistory_music_0.json", "YourLibrary.json", "Playlist1.json"} <= set(files)
    real_history = json.loads((real_dir / "StreamingHistory_music_0.json").read_text())
    history = files["StreamingHistory_music_0.json"]
    assert {k: type(v) for k, v in history[0].items()} == {k: type(v) for k, v in real_history[0].items()}
    assert all("uri" not in k.lower() for k in history[0]), "account-data history carries no URIs"
    truth = control.ground_truth(member_id)
    real_library = json.loads((real_dir / "YourLibrary.json").read_text())
    library = files["YourLibrary.json"]
    assert list(library) == list(real_library)
    assert set(library["tracks"][0]) == set(real_library["tracks"][0]) and set(library["artists"][0]) == set(
        real_library["artists"][0]
    )
    assert sorted(t["uri"] for t in library["tracks"]) == sorted(
        f"spotify:track:{s['track_id']}" for s in truth["saved_tracks"][member_id]
    )
    real_playlist = json.loads((real_dir / "Playlist1.json").read_text())["playlists"][0]
    playlist = files["Playlist1.json"]["playlists"][0]
    assert set(playlist) == set(real_playlist)
    assert set(playlist["items"][0]) == set(real_playlist["items"][0])
    ours, theirs = (next(it["track"] for it in p["items"] if it["track"]) for p in (playlist, real_playlist))
    assert set(ours) == set(theirs)

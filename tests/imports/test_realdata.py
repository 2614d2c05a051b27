"""Acceptance on the real export samples: counts equal an independent count from the raw JSON; twice and in reverse order give the same rows."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.storage import Database, migrate
from recs.storage.schema import (
    artists,
    followed_artists,
    playlist_items,
    playlists,
    plays,
    saved_tracks,
    short_streams,
    tracks,
)
from recs.usecases.imports import run_import
from tests.imports.conftest import new_member

pytestmark = pytest.mark.realdata
EXPORTS = "spotify-exports"
MIN_PLAY_MS = 30000


def _independent_count(root: Path) -> dict[str, Any]:
    """Count from the raw JSON with the issue's rules, written apart from the importer."""
    extended_plays: set[tuple[str, str]] = set()
    extended_short: set[tuple[str, str]] = set()
    account_plays: set[tuple[str, str, str]] = set()
    account_short: set[tuple[str, str, str]] = set()
    rows = 0
    play_rows = short_rows = 0
    skipped: Counter[str] = Counter()
    for path in sorted(root.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith(("Streaming_History_", "endsong")):
            for r in data:
                rows += 1
                if r.get("incognito_mode"):
                    skipped["incognito"] += 1
                elif r.get("spotify_episode_uri") or r.get("episode_name"):
                    skipped["podcast"] += 1
                elif r.get("audiobook_uri") or r.get("audiobook_title"):
                    skipped["audiobook"] += 1
                elif not r.get("spotify_track_uri"):
                    skipped["no_track_uri"] += 1
                elif r["ms_played"] >= MIN_PLAY_MS:
                    play_rows += 1
                    extended_plays.add((r["ts"], r["spotify_track_uri"]))
                else:
                    short_rows += 1
                    extended_short.add((r["ts"], r["spotify_track_uri"]))
        elif path.name.startswith("StreamingHistory"):
            for r in data:
                rows += 1
                if "podcastName" in r:
                    skipped["podcast"] += 1
                elif "audiobookName" in r:
                    skipped["audiobook"] += 1
                elif r["msPlayed"] >= MIN_PLAY_MS:
                    play_rows += 1
                    account_plays.add((r["endTime"], r["artistName"], r["trackName"]))
                else:
                    short_rows += 1
                    account_short.add((r["endTime"], r["artistName"], r["trackName"]))
        elif path.name == "YourLibrary.json":
            rows += len(data["tracks"]) + len(data["artists"])
        elif path.name.startswith("Playlist"):
            rows += len(data["playlists"])
            skipped["playlist_item_not_a_track"] += sum(
                1 for p in data["playlists"] for i in p["items"] if not (i.get("track") or {}).get("trackUri")
            )
    return {
        "rows_read": rows,
        "plays_read": play_rows,
        "plays_imported": len(extended_plays) + len(account_plays),
        "short_streams_imported": len(extended_short) + len(account_short),
        "short_streams_read": short_rows,
        "skipped": dict(skipped),
    }


def _fresh_db(path: Path) -> tuple[Database, int]:
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    return db, new_member(db, "sample")


@pytest.mark.slow  # imports the whole shared samples (20-30 s each)
def test_samples_import_with_independently_counted_totals(
    shared_data: Path, settings: Settings, tmp_path: Path
) -> None:
    root = shared_data / EXPORTS
    expected = _independent_count(root)
    db, member = _fresh_db(tmp_path / "a.sqlite3")
    report = run_import(db, settings, member, [root])
    got = {key: getattr(report, key) for key in expected}
    assert got == expected
    assert report.duplicate_plays == expected["plays_read"] - expected["plays_imported"]
    with db.read() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(plays)).scalar_one()
        stored_short = conn.execute(sa.select(sa.func.count()).select_from(short_streams)).scalar_one()
    assert (stored, stored_short) == (expected["plays_imported"], expected["short_streams_imported"])
    library = json.loads((root / "account_data" / "YourLibrary.json").read_text(encoding="utf-8"))
    assert report.saved_tracks == len({t["uri"] for t in library["tracks"]})
    assert report.followed_artists == len({a["uri"] for a in library["artists"]})
    db.dispose()
    # The same samples as a downloaded zip (in a folder, as Spotify packs them) give the same counts.
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"MyData/{path.relative_to(root)}")
    zipped_db, zipped_member = _fresh_db(tmp_path / "zipped.sqlite3")
    zipped = run_import(zipped_db, settings, zipped_member, [archive])
    assert {key: getattr(zipped, key) for key in expected} == expected
    zipped_db.dispose()


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every imported row, with tracks named by Spotify id or name key (row ids differ between databases)."""
    track = sa.func.coalesce(tracks.c.spotify_id, tracks.c.name_key)
    with db.read() as conn:
        out = {
            "plays": conn.execute(
                sa.select(
                    plays.c.played_at,
                    track,
                    plays.c.source,
                    plays.c.ms_played,
                    plays.c.skipped,
                    plays.c.reason_start,
                    plays.c.reason_end,
                    plays.c.shuffle,
                ).join(tracks, tracks.c.id == plays.c.track_id)
            ).all(),
            "short": conn.execute(
                sa.select(short_streams.c.ended_at, track, short_streams.c.ms_played, short_streams.c.reason_end).join(
                    tracks, tracks.c.id == short_streams.c.track_id
                )
            ).all(),
            "saved": conn.execute(sa.select(track).join(saved_tracks, saved_tracks.c.track_id == tracks.c.id)).all(),
            "followed": conn.execute(
                sa.select(artists.c.spotify_id).join(followed_artists, followed_artists.c.artist_id == artists.c.id)
            ).all(),
            "playlists": conn.execute(
                sa.select(playlists.c.name, playlist_items.c.position, track, playlist_items.c.added_at)
                .join(playlist_items, playlist_items.c.playlist_id == playlists.c.id)
                .join(tracks, tracks.c.id == playlist_items.c.track_id)
            ).all(),
        }
    return {k: sorted((tuple(r) for r in v), key=repr) for k, v in out.items()}


@pytest.mark.slow  # imports the whole shared samples (20-30 s each)
def test_samples_twice_and_in_reverse_order_give_the_same_rows(
    shared_data: Path, settings: Settings, tmp_path: Path
) -> None:
    root = shared_data / EXPORTS
    samples = sorted(p for p in root.rglob("*.json"))
    forward, member_f = _fresh_db(tmp_path / "forward.sqlite3")
    for path in samples:
        run_import(forward, settings, member_f, [path])
    once = _snapshot(forward)
    second = [run_import(forward, settings, member_f, [path]) for path in samples]
    assert sum(r.plays_imported + r.short_streams_imported + r.saved_tracks + r.followed_artists for r in second) == 0
    assert _snapshot(forward) == once
    backward, member_b = _fresh_db(tmp_path / "backward.sqlite3")
    for path in reversed(samples):
        run_import(backward, settings, member_b, [path])
    assert _snapshot(backward) == once
    assert len(once["plays"]) > 10000
    forward.dispose()
    backward.dispose()

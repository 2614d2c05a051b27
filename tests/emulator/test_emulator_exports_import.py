"""Generated exports are read by the project's own importer (recs.usecases.imports), the code that reads the real samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recs.core.config import ImportSettings
from recs.core.domain import ArtistInfo, TrackInfo
from recs.emulator import ControlClient
from recs.usecases.imports import reader, rows


def read_all(path: Path) -> dict[str, list[Any]]:
    parsed: dict[str, list[Any]] = {"extended": [], "account": [], "library": [], "playlists": []}
    with reader.open_upload([path], ImportSettings()) as upload:
        for entry in upload.entries:
            for prefix in reader.ITEM_PREFIXES[entry.kind]:
                for item in reader.iter_items(entry, prefix):
                    if entry.kind == "extended":
                        parsed["extended"].append(rows.parse_extended_row(item))
                    elif entry.kind == "account":
                        parsed["account"].append(rows.parse_account_row(item))
                    elif entry.kind == "library":
                        parse = rows.parse_library_track if prefix.startswith("tracks") else rows.parse_library_artist
                        parsed["library"].append(parse(item))
                    else:
                        parsed["playlists"].append(rows.parse_playlist(item))
    return parsed


def test_extended_export_is_read_by_the_importer(tmp_path: Path, control: ControlClient, member_id: str) -> None:
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(control.export_zip(member_id))
    parsed = read_all(path)["extended"]
    truth = control.ground_truth(member_id)["plays"]
    streams = [s for s in parsed if isinstance(s, rows.Stream)]
    reasons = {s for s in parsed if isinstance(s, str)}
    assert reasons == {rows.INCOGNITO}, "only private-session rows are skipped"
    assert len(streams) == sum(not p["incognito"] for p in truth)
    assert sorted((s.ended_at.isoformat(), s.track.spotify_id, s.ms_played) for s in streams) == sorted(
        (p["played_at"][:19] + "+00:00", p["track_id"], p["ms_played"]) for p in truth if not p["incognito"]
    )


def test_account_export_is_read_by_the_importer(tmp_path: Path, control: ControlClient, member_id: str) -> None:
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(control.export_zip(member_id, package="account"))
    parsed = read_all(path)
    assert parsed["account"] and all(isinstance(s, rows.Stream) for s in parsed["account"])
    assert parsed["library"] and all(not isinstance(x, str) for x in parsed["library"])
    playlists = parsed["playlists"]
    assert playlists and all(isinstance(p, rows.ExportPlaylist) for p in playlists)
    truth = control.ground_truth(member_id, since=control.now())
    saved = {s["track_id"] for s in truth["saved_tracks"][member_id]}
    assert saved == {t.spotify_id for t in parsed["library"] if isinstance(t, TrackInfo)}
    followed = set(truth["followed_artists"][member_id])
    assert followed == {a.spotify_id for a in parsed["library"] if isinstance(a, ArtistInfo)}

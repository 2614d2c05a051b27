"""Name-only tracks resolved through an injected search: most played first, a few per run, folded into the found track."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recs.core.config import Settings
from recs.core.domain import ArtistInfo, TrackInfo
from recs.storage import Database
from recs.storage.schema import plays, tracks
from recs.usecases.imports import run_import
from recs.usecases.imports.resolve import MAX_ATTEMPTS, resolve_names
from tests.imports.conftest import acct_row


def test_most_played_names_resolve_first_and_reimport_finds_them(
    db: Database, settings: Settings, member_id: int, write_json: Callable[[str, Any], Path]
) -> None:
    history = write_json(
        "StreamingHistory_music_0.json",
        [acct_row(endTime=f"2024-03-01 1{i}:00", trackName="Often") for i in range(3)]
        + [
            acct_row(endTime="2024-03-02 10:00", trackName="Once"),
            acct_row(endTime="2024-03-02 11:00", trackName="Nowhere"),
        ],
    )
    run_import(db, settings, member_id, [history])
    calls: list[tuple[str, str]] = []
    catalogue = {
        "Often": [
            TrackInfo("X" * 22, "Often (Live)", (ArtistInfo("a" * 22, "Artist A"),)),  # another song: refused
            TrackInfo("O" * 22, "Often", (ArtistInfo("a" * 22, "Artist A"),)),
        ],
        "Once": [TrackInfo("N" * 22, "ONCE!", (ArtistInfo("a" * 22, "artist a"),))],
    }

    def search(artist: str, title: str) -> Sequence[TrackInfo]:
        calls.append((artist, title))
        return catalogue.get(title, [])

    first = resolve_names(db, settings, search, limit=1)
    assert calls == [("Artist A", "Often")] and (first.searched, first.resolved) == (1, 1)
    rest = resolve_names(db, settings, search)
    assert calls[1:] == [("Artist A", "Once"), ("Artist A", "Nowhere")]
    assert (rest.resolved, rest.not_found) == (1, 1)
    with db.read() as conn:
        by_track = dict(
            conn.execute(
                sa.select(sa.func.coalesce(tracks.c.spotify_id, tracks.c.name), sa.func.count())
                .join(plays, plays.c.track_id == tracks.c.id)
                .group_by(tracks.c.id)
            ).all()
        )
    assert by_track == {"O" * 22: 3, "N" * 22: 1, "Nowhere": 1}
    again = run_import(db, settings, member_id, [history])
    assert (again.plays_imported, again.names_matched, again.names_unmatched) == (0, 2, 1)
    for _ in range(MAX_ATTEMPTS):
        resolve_names(db, settings, search)
    calls.clear()
    assert resolve_names(db, settings, search).searched == 0  # given up on after MAX_ATTEMPTS misses

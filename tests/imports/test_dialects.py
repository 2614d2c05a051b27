"""The import's hand-written SQL on SQLite and PostgreSQL: the same rules, the same rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recs.core.config import Settings
from recs.core.domain import ArtistInfo, PlayRow, TrackInfo
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.storage.schema import plays, short_streams, sync_gaps, tracks
from recs.usecases.imports import run_import
from tests.imports.conftest import URI_B, acct_row, ext_row


def test_import_rules_on_both_databases(
    any_db: Database, settings: Settings, write_json: Callable[[str, Any], Path]
) -> None:
    with any_db.write() as conn:
        member = create_member(conn, "dana", "Dana").id
        set_consent(conn, member, "store", True)
        tid = upsert_tracks(conn, [TrackInfo("A" * 22, "Song A", (ArtistInfo(None, "Artist A"),))])["A" * 22]
        insert_plays(conn, member, [PlayRow(datetime(2024, 3, 1, 9, 0, 1, tzinfo=UTC), tid, "api")])
        conn.execute(
            sync_gaps.insert().values(
                member_id=member,
                gap_start=datetime(2024, 3, 1, 10, tzinfo=UTC),
                gap_end=datetime(2024, 3, 1, 11, tzinfo=UTC),
                detected_at=datetime(2024, 3, 2, tzinfo=UTC),
            )
        )
    account = write_json(
        "StreamingHistory_music_0.json",
        [
            acct_row(endTime="2024-03-01 12:00"),
            acct_row(endTime="2024-03-01 12:03", msPlayed=4000),
            acct_row(endTime="2024-03-01 13:00", trackName="Other"),
        ],
    )
    extended = write_json(
        "Streaming_History_Audio_2024.json",
        [
            ext_row(ts="2024-03-01T09:00:05Z"),  # the API play, 4 s later
            ext_row(ts="2024-03-01T12:00:42Z", reason_end="fwdbtn"),  # the account row's copy: replaces it
            ext_row(ts="2024-03-01T12:03:10Z", ms_played=4000),  # the account short stream's copy
            ext_row(ts="2024-03-01T12:30:00Z", spotify_track_uri=URI_B, master_metadata_track_name="B"),
        ],
    )
    first = run_import(any_db, settings, member, [account])
    second = run_import(any_db, settings, member, [extended])
    again = run_import(any_db, settings, member, [account, extended])
    assert (first.plays_imported, first.short_streams_imported, first.names_matched, first.names_unmatched) == (
        2,
        1,
        1,
        1,
    )
    assert (second.plays_imported, second.duplicate_plays, second.gaps_filled) == (2, 1, 1)
    assert (again.plays_imported, again.short_streams_imported) == (0, 0)
    with any_db.read() as conn:
        stored = conn.execute(
            sa.select(plays.c.played_at, tracks.c.spotify_id, plays.c.source, plays.c.reason_end)
            .join(tracks, tracks.c.id == plays.c.track_id)
            .order_by(plays.c.played_at)
        ).all()
        shorts = conn.execute(sa.select(short_streams.c.ended_at, short_streams.c.matched_by_name)).all()
    assert [(p[0].strftime("%H:%M:%S"), p[1], p[2], p[3]) for p in stored] == [
        ("09:00:01", "A" * 22, "api", None),
        ("12:00:42", "A" * 22, "export", "fwdbtn"),
        ("12:30:00", "B" * 22, "export", "trackdone"),
        ("13:00:00", None, "export", None),
    ]
    assert [(s[0].strftime("%H:%M:%S"), s[1]) for s in shorts] == [("12:03:10", None)]

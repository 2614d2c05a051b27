"""The import use case: rules applied, idempotent, merging with API plays and between export formats, library, playlists, gaps, report, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recs.cli.main import main
from recs.core.config import Settings
from recs.core.domain import PlayRow, TrackInfo
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.imports import get_import, list_imports
from recs.storage.listening import insert_plays
from recs.storage.members import set_consent
from recs.storage.schema import playlist_items, playlists, plays, saved_tracks, short_streams, sync_gaps, tracks
from recs.usecases.imports import ImportRejected, run_import
from tests.imports.conftest import URI_A, URI_B, acct_row, ext_row, new_member

Writer = Callable[[str, Any], Path]


def _plays(db: Database) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                plays.c.played_at,
                tracks.c.spotify_id,
                tracks.c.name_key,
                plays.c.source,
                plays.c.ms_played,
                plays.c.skipped,
            )
            .join(tracks, tracks.c.id == plays.c.track_id)
            .order_by(plays.c.played_at, tracks.c.name_key)
        ).all()
    return [tuple(r) for r in rows]


def test_rules_and_report(db: Database, settings: Settings, member_id: int, write_json: Writer) -> None:
    path = write_json(
        "Streaming_History_Audio_2024.json",
        [
            ext_row(ts="2024-03-01T12:00:42Z", ms_played=180000),
            ext_row(ts="2024-03-01T12:00:42Z", ms_played=180000),  # the same play twice (as in real files)
            ext_row(
                ts="2024-03-01T12:05:00Z", ms_played=30000, skipped=True, reason_end="fwdbtn"
            ),  # a play, skipped later
            ext_row(ts="2024-03-01T12:06:00Z", ms_played=29999, reason_end="fwdbtn"),  # a short stream
            ext_row(ts="2024-03-01T12:07:00Z", incognito_mode=True),
            ext_row(
                ts="2024-03-01T12:08:00Z",
                spotify_track_uri=None,
                spotify_episode_uri="spotify:episode:x",
                episode_name="E",
            ),
            ext_row(ts="2024-03-01T12:09:00Z", spotify_track_uri=None),
            ext_row(ts="not a time"),
            "not a row",
            ext_row(ts="2024-03-02T08:00:00Z", spotify_track_uri=URI_B, master_metadata_track_name="Song B"),
        ],
    )
    progress: list[tuple[int, int]] = []
    report = run_import(db, settings, member_id, [path], progress=lambda d, t: progress.append((d, t)))
    assert (report.rows_read, report.plays_read, report.plays_imported, report.duplicate_plays) == (10, 4, 3, 1)
    assert (report.short_streams_imported, report.distinct_tracks) == (1, 2)
    assert report.skipped == {"incognito": 1, "podcast": 1, "no_track_uri": 1, "invalid_ts": 1, "not_an_object": 1}
    assert report.first_played_at == datetime(2024, 3, 1, 12, 0, 42, tzinfo=UTC)
    assert report.last_played_at == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    assert progress[-1] == (10, 10)
    stored = _plays(db)
    assert [(p[0].minute, p[4], p[5]) for p in stored[:2]] == [(0, 180000, False), (5, 30000, True)]
    with db.read() as conn:
        record = get_import(conn, report.import_id)
        assert record is not None and record.status == "succeeded" and record.report is not None
        assert record.report["plays_imported"] == 3 and record.report["skipped"]["podcast"] == 1
        assert conn.execute(sa.select(short_streams.c.ms_played, short_streams.c.reason_end)).all() == [
            (29999, "fwdbtn")
        ]


def test_same_file_twice_adds_nothing(db: Database, settings: Settings, member_id: int, write_json: Writer) -> None:
    path = write_json("endsong_0.json", [ext_row(ts=f"2022-01-0{d}T10:00:00Z") for d in range(1, 8)])
    first = run_import(db, settings, member_id, [path])
    before = _plays(db)
    second = run_import(db, settings, member_id, [path])
    assert first.plays_imported == 7
    assert (second.plays_imported, second.duplicate_plays) == (0, 7)
    assert _plays(db) == before


def test_api_plays_within_the_tolerance_are_the_same_play(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    api_time = datetime(2024, 3, 1, 12, 0, 40, 512000, tzinfo=UTC)
    with db.write() as conn:
        tid = upsert_tracks(conn, [TrackInfo("A" * 22, "Song A")])["A" * 22]
        insert_plays(conn, member_id, [PlayRow(api_time, tid, "api")])
    path = write_json(
        "Streaming_History_Audio_2024.json",
        [
            ext_row(ts="2024-03-01T12:00:42Z"),  # the API's play, 1.5 s later in the export
            ext_row(ts="2024-03-01T12:10:00Z"),  # a later play of the same track: kept
            ext_row(ts="2024-03-01T12:00:50Z", spotify_track_uri=URI_B),  # another track at the same time: kept
        ],
    )
    report = run_import(db, settings, member_id, [path])
    assert (report.plays_imported, report.duplicate_plays) == (2, 1)
    sources = [(p[0], p[3]) for p in _plays(db) if p[1] == "A" * 22]
    assert sources == [(api_time, "api"), (datetime(2024, 3, 1, 12, 10, tzinfo=UTC), "export")]


def test_account_data_matches_names_and_merges_with_extended_history_in_either_order(
    settings: Settings, tmp_path: Path, write_json: Writer
) -> None:
    from recs.storage import migrate

    account = write_json(
        "StreamingHistory_music_0.json",
        [
            acct_row(endTime="2024-03-01 12:00"),  # the same stream as the extended row at 12:00:42
            acct_row(endTime="2024-03-01 12:01"),  # a second play a minute later: its own play
            acct_row(endTime="2024-03-01 13:00", artistName="Nobody Known", trackName="Unknown Song"),
            acct_row(endTime="2024-03-01 13:05", artistName="ARTIST  a", trackName="song a!"),  # normalised match
        ],
    )
    extended = write_json("Streaming_History_Audio_2024.json", [ext_row(ts="2024-03-01T12:00:42Z")])
    results = []
    for order in ([account, extended], [extended, account]):
        db = Database(f"sqlite:///{tmp_path / f'order{len(results)}.sqlite3'}")
        migrate.upgrade(db)
        member = new_member(db, "bob")
        reports = [run_import(db, settings, member, [p]) for p in order]
        results.append((_plays(db), reports))
        db.dispose()
    (rows_a, reports_a), (rows_b, reports_b) = results
    assert rows_a == rows_b
    assert [(p[0].strftime("%H:%M:%S"), p[1]) for p in rows_a] == [
        ("12:00:42", "A" * 22),
        ("12:01:00", "A" * 22),
        ("13:00:00", None),
        ("13:05:00", "A" * 22),
    ]
    assert reports_a[1].tracks_merged == 1  # the name-only track became the track with an id
    assert (reports_b[1].names_matched, reports_b[1].names_unmatched, reports_b[1].duplicate_plays) == (1, 1, 1)


def test_library_and_playlists(db: Database, settings: Settings, member_id: int, write_json: Writer) -> None:
    library = write_json(
        "YourLibrary.json",
        {
            "tracks": [
                {"artist": "Artist A", "album": "Album A", "track": "Song A", "uri": URI_A},
                {"track": "no uri"},
            ],
            "albums": [],
            "artists": [{"name": "Artist A", "uri": "spotify:artist:" + "C" * 22}],
        },
    )
    item = {
        "track": {"trackName": "Song B", "artistName": "B", "albumName": "B", "trackUri": URI_B},
        "addedDate": "2024-01-02",
    }
    playlist = write_json(
        "Playlist1.json",
        {
            "playlists": [
                {"name": "Road", "lastModifiedDate": "2024-06-28", "items": [item, {"track": None, "episode": {}}]}
            ]
        },
    )
    progress: list[tuple[int, int]] = []
    report = run_import(db, settings, member_id, [library, playlist], progress=lambda d, t: progress.append((d, t)))
    assert (report.saved_tracks, report.followed_artists, report.playlists, report.playlist_items) == (1, 1, 1, 1)
    assert progress[-1] == (4, 4) and report.rows_read == 4
    assert report.skipped == {"library_no_track_uri": 1, "playlist_item_not_a_track": 1}
    again = run_import(db, settings, member_id, [library, playlist])
    assert (again.saved_tracks, again.followed_artists) == (0, 0)
    with db.read() as conn:
        assert conn.execute(sa.select(saved_tracks.c.source)).scalars().all() == ["export"]
        assert conn.execute(sa.select(playlists.c.name, playlists.c.source)).all() == [("Road", "export")]
        assert conn.execute(sa.select(sa.func.count()).select_from(playlist_items)).scalar_one() == 1


def test_gaps_inside_the_imported_range_are_filled(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    with db.write() as conn:
        for start, end in (
            (t0 + timedelta(hours=1), t0 + timedelta(hours=5)),
            (t0 + timedelta(days=30), t0 + timedelta(days=31)),
        ):
            conn.execute(sync_gaps.insert().values(member_id=member_id, gap_start=start, gap_end=end, detected_at=t0))
    path = write_json("endsong.json", [ext_row(ts="2024-03-01T00:30:00Z"), ext_row(ts="2024-03-02T00:30:00Z")])
    report = run_import(db, settings, member_id, [path])
    assert report.gaps_filled == 1
    with db.read() as conn:
        filled = conn.execute(sa.select(sync_gaps.c.filled_by_import).order_by(sync_gaps.c.id)).scalars().all()
    assert filled == [report.import_id, None]


def test_unknown_member_and_refused_upload(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    path = write_json("endsong.json", [ext_row()])
    with pytest.raises(ImportRejected, match="no member with id 999"):
        run_import(db, settings, 999, [path])
    with db.write() as conn:
        set_consent(conn, member_id, "store", False)
    with pytest.raises(ImportRejected, match="consent 'store'"):
        run_import(db, settings, member_id, [path])
    with db.write() as conn:
        set_consent(conn, member_id, "store", True)
    bad = write_json("endsong_1.json", "[{")
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(ImportRejected, match=r"endsong_1\.json: not valid JSON"):
        run_import(db, settings, member_id, [path, bad])
    assert _plays(db) == []
    with db.read() as conn:
        (record,) = list_imports(conn, member_id)
    assert record.status == "rejected" and record.error is not None and "endsong_1.json" in record.error


def test_cli_imports_and_prints_the_report(tmp_path: Path, write_json: Writer) -> None:
    env = {"RECS_INSTANCE__DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env, catch_exceptions=False).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'data' / 'recs.sqlite3'}")
    member = new_member(db, "carol")
    db.dispose()
    path = write_json("endsong.json", [ext_row(), ext_row(ts="2024-03-01T13:00:00Z", incognito_mode=True)])
    result = runner.invoke(main, ["import", str(path), "--member", str(member)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "plays imported:   1 (of 1; 0 duplicates)" in result.output
    assert "skipped:          incognito 1" in result.output
    refused = runner.invoke(main, ["import", str(path), "--member", "42"], env=env)
    assert refused.exit_code == 1 and "import refused: no member with id 42" in refused.output


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),  # NaN is not JSON: json.dumps would write a file no export is
    st.text(max_size=12),
    st.sampled_from(["2024-03-01T12:00:42", "2024-03-01 12:00", "2024-02-30T00:00:00Z", URI_B, "spotify:track:x"]),
)
fuzzed_rows = st.lists(
    st.builds(
        lambda base, changes, drop: {k: v for k, v in {**base, **changes}.items() if k not in drop},
        st.sampled_from([ext_row(), ext_row(ts="2024-03-01T12:05:00Z", ms_played=1200), acct_row()]),
        st.dictionaries(
            st.sampled_from(
                ["ts", "ms_played", "spotify_track_uri", "incognito_mode", "endTime", "msPlayed", "trackName"]
            ),
            odd_values,
            max_size=3,
        ),
        st.sets(
            st.sampled_from(["ts", "ms_played", "spotify_track_uri", "master_metadata_track_name", "endTime"]),
            max_size=2,
        ),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=fuzzed_rows, account=st.booleans())
def test_fuzzed_rows_are_counted_once_and_import_idempotently(
    db: Database,
    settings: Settings,
    member_id: int,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[Any],
    account: bool,
) -> None:
    name = "StreamingHistory_music_0.json" if account else "Streaming_History_Audio_2024.json"
    path = tmp_path_factory.mktemp("rows") / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    report = run_import(db, settings, member_id, [path])
    assert report.rows_read == len(rows)
    assert report.rows_read == report.plays_read + report.short_streams_read + sum(report.skipped.values())
    again = run_import(db, settings, member_id, [path])
    assert (again.plays_imported, again.short_streams_imported) == (0, 0)


def test_interrupted_imports_are_closed_and_api_copies_of_exports_found(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    from recs.storage.imports import create_import, without_export_copies

    with db.write() as conn:
        stale = create_import(conn, member_id, "old.zip", datetime(2020, 1, 1, tzinfo=UTC))
    path = write_json("endsong.json", [ext_row(ts="2024-03-01T12:00:42Z")])
    run_import(db, settings, member_id, [path])
    with db.read() as conn:
        record = get_import(conn, stale)
        assert record is not None and record.status == "interrupted" and "stopped after 0 rows" in (record.error or "")
        tid = conn.execute(sa.select(tracks.c.id).where(tracks.c.spotify_id == "A" * 22)).scalar_one()
        polled = [
            PlayRow(datetime(2024, 3, 1, 12, 0, 40, tzinfo=UTC), tid, "api"),  # the exported play, seen by the poller
            PlayRow(datetime(2024, 3, 1, 12, 9, 0, tzinfo=UTC), tid, "api"),
        ]
        assert without_export_copies(conn, member_id, polled, 120) == polled[1:]


def test_same_named_tracks_are_one_song_across_sources(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    from recs.core.domain import ArtistInfo

    artist = (ArtistInfo(None, "Artist A"),)
    with db.write() as conn:
        # Two Spotify ids for one song (album and single): account data can only name it.
        ids = upsert_tracks(conn, [TrackInfo("A" * 22, "Song A", artist), TrackInfo("Z" * 22, "Song A", artist)])
        insert_plays(conn, member_id, [PlayRow(datetime(2024, 3, 1, 12, 0, 50, tzinfo=UTC), ids["Z" * 22], "api")])
    account = write_json(
        "StreamingHistory_music_0.json",
        [
            acct_row(endTime="2024-03-01 12:00"),
            acct_row(endTime="2024-03-01 15:00"),
            acct_row(endTime="2024-03-01 16:00"),
        ],
    )
    extended = write_json(
        "Streaming_History_Audio_2024.json",
        [
            ext_row(ts="2024-03-01T15:00:00Z", spotify_track_uri="spotify:track:" + "Z" * 22),  # exactly on the minute
            ext_row(ts="2024-03-01T16:00:31Z", spotify_track_uri="spotify:track:" + "Z" * 22),
        ],
    )
    first = run_import(db, settings, member_id, [account])
    # 12:00 is the API play of the other id; 15:00 and 16:00 are new until the extended history comes.
    assert (first.plays_imported, first.duplicate_plays) == (2, 1)
    second = run_import(db, settings, member_id, [extended])
    assert second.plays_imported == 2
    assert [(p[0].strftime("%H:%M:%S"), p[1], p[3]) for p in _plays(db)] == [
        ("12:00:50", "Z" * 22, "api"),
        ("15:00:00", "Z" * 22, "export"),
        ("16:00:31", "Z" * 22, "export"),
    ]


def test_name_matched_plays_follow_the_smallest_spotify_id_whenever_it_arrives(
    db: Database, settings: Settings, member_id: int, write_json: Writer
) -> None:
    account = write_json("StreamingHistory_music_0.json", [acct_row(endTime="2024-03-01 10:00")])
    later = write_json(
        "Playlist1.json",
        {
            "playlists": [
                {
                    "name": "P",
                    "lastModifiedDate": "2024-01-01",
                    "items": [
                        {
                            "track": {
                                "trackName": "Song A",
                                "artistName": "Artist A",
                                "albumName": "X",
                                "trackUri": "spotify:track:" + "Z" * 22,
                            }
                        },
                    ],
                }
            ]
        },
    )
    earlier = write_json(
        "YourLibrary.json", {"tracks": [{"artist": "Artist A", "track": "Song A", "uri": "spotify:track:" + "M" * 22}]}
    )
    run_import(db, settings, member_id, [account])
    assert [p[1] for p in _plays(db)] == [None]  # known by name only
    run_import(db, settings, member_id, [later])
    assert [p[1] for p in _plays(db)] == ["Z" * 22]
    report = run_import(db, settings, member_id, [earlier])
    assert [p[1] for p in _plays(db)] == ["M" * 22] and report.tracks_merged == 1
    with db.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(tracks).where(tracks.c.spotify_id.is_(None))
            ).scalar_one()
            == 0
        )

"""Row rules of the export parser (plays, skips, reasons) and hypothesis fuzzing: a row never raises, only gets a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recs.usecases.imports import rows
from recs.usecases.imports.rows import (
    Stream,
    parse_account_row,
    parse_extended_row,
    parse_library_artist,
    parse_playlist,
)
from tests.imports.conftest import URI_A, acct_row, ext_row


def test_extended_row_becomes_a_stream_with_its_skip_evidence() -> None:
    s = parse_extended_row(ext_row(ms_played=45000, skipped=True, reason_end="fwdbtn", shuffle=True))
    assert isinstance(s, Stream)
    assert s.ended_at == datetime(2024, 3, 1, 12, 0, 42, tzinfo=UTC)
    assert s.track.spotify_id == "A" * 22 and s.track.name == "Song A" and s.track.primary_artist == "Artist A"
    assert (s.ms_played, s.skipped, s.reason_end, s.shuffle, s.precision) == (45000, True, "fwdbtn", True, "second")
    # A play from 30 s on, whether or not it was skipped later.
    assert s.is_play(30000)
    short = parse_extended_row(ext_row(ms_played=29999))
    assert isinstance(short, Stream) and not short.is_play(30000)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"incognito_mode": True}, rows.INCOGNITO),
        ({"spotify_track_uri": None, "spotify_episode_uri": "spotify:episode:x", "episode_name": "E"}, rows.PODCAST),
        ({"spotify_track_uri": None, "audiobook_uri": "spotify:audiobook:x"}, rows.AUDIOBOOK),
        ({"spotify_track_uri": None}, rows.NO_TRACK_URI),
        ({"spotify_track_uri": "spotify:track:short"}, rows.INVALID_TRACK_URI),
        ({"spotify_track_uri": 12}, rows.INVALID_TRACK_URI),
        ({"ts": None}, rows.INVALID_TS),
        ({"ts": "yesterday"}, rows.INVALID_TS),
        ({"ts": "1970-01-01T00:00:00Z"}, rows.INVALID_TS),
        ({"ms_played": -1}, rows.INVALID_MS_PLAYED),
        ({"ms_played": "180000"}, rows.INVALID_MS_PLAYED),
        ({"ms_played": True}, rows.INVALID_MS_PLAYED),
        ({"ms_played": float("nan")}, rows.INVALID_MS_PLAYED),
        ({"ms_played": 10**30}, rows.INVALID_MS_PLAYED),
    ],
)
def test_extended_row_skip_reasons(overrides: dict[str, Any], reason: str) -> None:
    assert parse_extended_row(ext_row(**overrides)) == reason


def test_extended_row_every_other_field_is_optional() -> None:
    s = parse_extended_row({"ts": "2024-03-01T12:00:42Z", "ms_played": Decimal("31000"), "spotify_track_uri": URI_A})
    assert isinstance(s, Stream)
    assert (s.track.name, s.track.artists, s.skipped, s.reason_end) == ("", (), None, None)
    # Legacy endsong: skipped may be null; a ts without zone is UTC as Spotify documents.
    s2 = parse_extended_row(ext_row(skipped=None, ts="2022-09-07T16:30:37"))
    assert isinstance(s2, Stream) and s2.skipped is None and s2.ended_at.tzinfo == UTC


def test_account_row_has_names_and_minute_precision() -> None:
    s = parse_account_row(acct_row(msPlayed=2832))
    assert isinstance(s, Stream)
    assert s.ended_at == datetime(2024, 3, 1, 12, 0, tzinfo=UTC) and s.precision == "minute"
    assert s.track.spotify_id is None and s.track.name == "Song A" and s.track.primary_artist == "Artist A"
    assert parse_account_row({"endTime": "2024-03-01 12:00", "podcastName": "P", "msPlayed": 5}) == rows.PODCAST
    assert parse_account_row({"endTime": "2024-03-01 12:00", "audiobookName": "B", "msPlayed": 5}) == rows.AUDIOBOOK
    assert parse_account_row(acct_row(trackName="")) == rows.MISSING_NAMES
    assert parse_account_row(acct_row(endTime="2024-13-01 12:00")) == rows.INVALID_TS


def test_library_and_playlist_entries() -> None:
    artist = parse_library_artist({"name": "Beyoncé", "uri": "spotify:artist:" + "C" * 22})
    assert not isinstance(artist, str) and artist.spotify_id == "C" * 22
    playlist = parse_playlist(
        {
            "name": "Road",
            "lastModifiedDate": "2024-06-28",
            "items": [
                {
                    "track": {"trackName": "S", "artistName": "A", "albumName": "B", "trackUri": URI_A},
                    "addedDate": "2024-06-01",
                },
                {"track": None, "episode": {"episodeUri": "spotify:episode:x"}},
                {"track": None, "localTrack": {"uri": "spotify:local:x"}},
            ],
        }
    )
    assert not isinstance(playlist, str)
    assert [t.spotify_id for t, _ in playlist.items] == ["A" * 22]
    assert playlist.skipped_items == 2 and playlist.modified_at == datetime(2024, 6, 28, tzinfo=UTC)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        ["2024-03-01T12:00:42Z", "2024-03-01T12:00:42", "2024-03-01 12:00", "9999-12-31T23:59:59+14:00", URI_A]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = list(ext_row()) + list(acct_row()) + ["podcastName", "audiobookName", "items", "name", "uri", "track"]


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([ext_row(), acct_row(), {}]),
    changes=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    dropped=st.sets(st.sampled_from(FIELDS), max_size=5),
    other=json_values,
)
def test_fuzzed_rows_never_raise(base: dict[str, Any], changes: dict[str, Any], dropped: set[str], other: Any) -> None:
    row = {k: v for k, v in {**base, **changes}.items() if k not in dropped}
    for candidate in (row, other):
        for parse in (
            parse_extended_row,
            parse_account_row,
            parse_playlist,
            parse_library_artist,
            rows.parse_library_track,
        ):
            result = parse(candidate)
            assert isinstance(result, str) or result is not None
            if isinstance(result, Stream):
                assert result.ended_at.tzinfo == UTC and 0 <= result.ms_played < 2**31

"""The dump line parser: Spotify id forms, every reject reason, and counts on a hostile chunk labelled by hand."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from recs.usecases.prior.listens import (
    Window,
    pack_spelling,
    parse_chunk,
    parse_line,
    spotify_track_id,
    unpack_spelling,
)
from tests.prior.dumpfiles import listen

A, B, C = "4uLU6hMCjMI75M1A2tKUQC", "0VjIjW4GlUZAMYd2vXMi3b", "7ouMYWpwJ422jRcDASZB7P"
TS = 1_767_225_600  # 2026-01-01
URL = "https://open.spotify.com/track/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{URL}{A}", A),
        (f"{URL}{A}?si=4f1c2d3e4b5a6978", A),
        (f"http://open.spotify.com/track/{A}#x", A),
        (f"https://open.spotify.com/intl-de/track/{A}?si=1", A),
        (f"https://open.spotify.com/intl-pt_BR/track/{A}", A),
        (f"https://open.spotify.com/embed/track/{A}", A),
        (f"open.spotify.com/track/{A}", A),
        (f"https://play.spotify.com/track/{A}", A),
        (f"spotify:track:{A}", A),
        (A, A),
        (f" {A}\n", A),
        (f"https://open.spotify.com/album/{A}", None),
        (f"https://open.spotify.com/episode/{A}", None),
        (f"spotify:album:{A}", None),
        (f"spotify:track:{A}:extra", None),
        (f"{URL}{A}x", None),
        (A[:21], None),
        (A[:21] + "!", None),
        (f"https://evil.example/track/{A}", None),
        (f"https://open.spotify.com.evil.example/track/{A}", None),
        ("", None),
        (None, None),
        (12, None),
        ([A], None),
        ({"id": A}, None),
    ],
)
def test_spotify_track_id_forms(value: Any, expected: str | None) -> None:
    assert spotify_track_id(value) == expected


def _cases() -> list[tuple[bytes, Any]]:
    """Hostile lines, each with the outcome worked out by hand: a reason, or (user, ts, track, name, artist)."""
    url = f"{URL}{A}"
    return [
        (
            listen(1, TS, spotify_id=url, origin_url=url, track_name="Song", artist_name="Band"),
            (1, TS, A, "Song", "Band"),
        ),
        (listen(2, TS, origin_url=f"{URL}{B}?si=abc"), (2, TS, B, "A Song", "An Artist")),
        (listen(3, TS, spotify_id=f"spotify:track:{C}"), (3, TS, C, "A Song", "An Artist")),
        (listen(4, TS, spotify_id=A), (4, TS, A, "A Song", "An Artist")),
        (listen(5, TS, origin_url=f"https://open.spotify.com/intl-fr/track/{B}"), (5, TS, B, "A Song", "An Artist")),
        # the id field is wrong but the URL is good, and the other way round
        (
            listen(6, TS, spotify_id=f"https://open.spotify.com/album/{C}", origin_url=f"{URL}{A}"),
            (6, TS, A, "A Song", "An Artist"),
        ),
        (
            listen(7, TS, spotify_id=f"{URL}{C}", origin_url="https://www.youtube.com/watch?v=x"),
            (7, TS, C, "A Song", "An Artist"),
        ),
        # names missing or mistyped are kept empty; unknown keys and unicode are fine
        (listen(8, TS, spotify_id=url, track_name=None, artist_name=5), (8, TS, A, "", "")),
        (
            listen(
                9, TS, spotify_id=url, track_name="Ça\u2028va 🎵", extra={"x": [1, {"y": None}], "duration_ms": "?"}
            ),
            (9, TS, A, "Ça\u2028va 🎵", "An Artist"),
        ),
        (
            listen(1, TS, spotify_id=url, origin_url=url, track_name="Song", artist_name="Band"),
            (1, TS, A, "Song", "Band"),
        ),
        # other services, or nothing at all
        (listen(10, TS, origin_url="https://www.youtube.com/watch?v=x"), "no_spotify_id"),
        (listen(11, TS), "no_spotify_id"),
        (listen(12, TS, extra={"music_service": "spotify.com"}), "no_spotify_id"),
        (b"", "no_spotify_id"),
        (b"not json and no marker", "no_spotify_id"),
        (
            b'{"user_id":1,"timestamp":1767225600,"track_metadata":{"track_name":"spotify","additional_info":null}}',
            "no_spotify_id",
        ),
        # broken
        (b'{"user_id": 1, "track_metadata": {"additional_info": {"spotify_id": "', "not_json"),
        (b"spotify", "not_json"),
        (b'["spotify"]', "not_an_object"),
        (b'"spotify"', "not_an_object"),
        (b'{"user_id":1,"timestamp":1767225600,"user_name":"spotifyfan","track_metadata":null}', "no_track_metadata"),
        (b'{"user_id":1,"timestamp":1767225600,"user_name":"spotifyfan"}', "no_track_metadata"),
        (b'{"user_id":1,"timestamp":1767225600,"track_metadata":["spotify"]}', "no_track_metadata"),
        (listen(13, TS, spotify_id=f"https://open.spotify.com/album/{A}"), "bad_spotify_id"),
        (listen(14, TS, spotify_id=12345), "bad_spotify_id"),
        (listen(15, TS, spotify_id=f"{URL}short"), "bad_spotify_id"),
        (listen(16, TS, origin_url=f"https://open.spotify.com/episode/{A}"), "bad_spotify_id"),
        (listen(17, TS, spotify_id=[url]), "bad_spotify_id"),
        (listen(None, TS, spotify_id=url), "bad_user_id"),
        (listen("18", TS, spotify_id=url), "bad_user_id"),
        (listen(True, TS, spotify_id=url), "bad_user_id"),
        (listen(0, TS, spotify_id=url), "bad_user_id"),
        (listen(-4, TS, spotify_id=url), "bad_user_id"),
        (listen(2**70, TS, spotify_id=url), "bad_user_id"),
        (listen(19, str(TS), spotify_id=url), "bad_timestamp"),
        (listen(20, None, spotify_id=url), "bad_timestamp"),
        (listen(21, TS + 0.5, spotify_id=url), "bad_timestamp"),
        (listen(22, 100, spotify_id=url), "timestamp_out_of_range"),
        (listen(23, 1_033_430_399, spotify_id=url), "timestamp_out_of_range"),  # a second before ListenBrainz's minimum
        (listen(24, 4_102_444_800, spotify_id=url), "timestamp_out_of_range"),  # 2100
        (listen(25, 1_033_430_400, spotify_id=url), (25, 1_033_430_400, A, "A Song", "An Artist")),
    ]


LATEST = 1_800_000_000


def test_each_hostile_line_gets_its_hand_worked_outcome() -> None:
    for line, expected in _cases():
        assert parse_line(line, Window(latest=LATEST)) == expected, line


def test_chunk_counts_match_the_hand_labels() -> None:
    cases = _cases()
    chunk = b"\n".join(line for line, _ in cases) + b"\n"
    result = parse_chunk(chunk, Window(latest=LATEST))
    expected_reasons = Counter(label for _, label in cases if isinstance(label, str))
    expected_kept = [label for _, label in cases if not isinstance(label, str)]
    assert result.lines == len(cases)
    assert result.rejected == expected_reasons
    got = [
        (int(u), int(t), result.track_ids[int(k)])
        for u, t, k in zip(result.users, result.timestamps, result.tracks, strict=True)
    ]
    assert got == [(u, t, k) for u, t, k, _, _ in expected_kept]
    names = Counter()
    for (code, spelling), n in result.names.items():
        names[(result.track_ids[code], *unpack_spelling(spelling))] += n
    assert names == Counter((k, name, artist) for _, _, k, name, artist in expected_kept)


def test_a_last_line_without_newline_still_counts() -> None:
    line = listen(1, TS, spotify_id=A)
    result = parse_chunk(line + b"\n" + line)
    assert result.lines == 2 and len(result.users) == 2


def test_window_is_since_inclusive_until_exclusive_and_counted() -> None:
    lines = [listen(1, TS + d, spotify_id=A) for d in (-1, 0, 1, 99, 100)]
    result = parse_chunk(b"\n".join(lines), Window(since=TS, until=TS + 100, latest=LATEST))
    assert sorted(int(t) - TS for t in result.timestamps) == [0, 1, 99]
    assert result.rejected == Counter({"outside_window": 2})


@pytest.mark.parametrize(("name", "artist"), [("", ""), ("a:b", "c"), ("12:x", ":"), ("Ça", "🎵\x00"), ("x" * 300, "")])
def test_spellings_pack_and_unpack_whatever_they_hold(name: str, artist: str) -> None:
    assert unpack_spelling(pack_spelling(name, artist)) == (name, artist)

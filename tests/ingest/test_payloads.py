"""Parsing Spotify payloads into domain objects: shapes from the OpenAPI spec, and rejection of malformed pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from recs.core.payloads import (
    PayloadError,
    parse_page,
    parse_playlist_items,
    parse_playlists,
    parse_profile,
    parse_recently_played,
    parse_saved_tracks,
)


def track(tid: str = "t1", name: str = "Song") -> dict[str, Any]:
    return {
        "id": tid,
        "type": "track",
        "name": name,
        "duration_ms": 200000,
        "explicit": False,
        "external_ids": {"isrc": "GBAAA0000001"},
        "artists": [{"id": "a1", "name": "Artist"}, {"id": "a2", "name": "Guest"}],
        "album": {"id": "al1", "name": "Album", "release_date": "2020-01-01", "images": [{"url": "http://i/1"}]},
    }


def test_recently_played_page_parses_plays_context_and_cursor() -> None:
    payload = {
        "items": [
            {"track": track(), "played_at": "2026-03-01T10:00:00.123Z", "context": {"uri": "spotify:album:al1"}},
            {"track": track("t2"), "played_at": "2026-03-01T09:56:00Z", "context": None},
        ],
        "cursors": {"after": "1772359200123", "before": "1772359000000"},
        "next": None,
        "limit": 50,
    }
    page = parse_recently_played(payload)
    assert page.item_count == 2
    assert page.cursor_after == 1772359200123
    first = page.plays[0]
    assert first.played_at == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert first.track.spotify_id == "t1"
    assert [a.name for a in first.track.artists] == ["Artist", "Guest"]
    assert first.track.album is not None and first.track.album.image_url == "http://i/1"
    assert first.track.isrc == "GBAAA0000001"
    assert first.context_uri == "spotify:album:al1"
    assert page.plays[1].context_uri is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"items": None},
        {"items": [{"track": track(), "played_at": "yesterday"}]},
        {"items": [{"track": {**track(), "name": None}, "played_at": "2026-03-01T10:00:00Z"}]},
        {"items": [{"track": track(), "played_at": "2026-03-01T10:00:00"}]},
    ],
)
def test_a_malformed_recently_played_page_is_rejected_whole(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse_recently_played(payload)


def test_episodes_local_and_null_tracks_are_skipped() -> None:
    payload = {
        "items": [
            {"track": {"type": "episode", "id": "e1", "name": "Pod"}, "played_at": "2026-03-01T10:00:00Z"},
            {"track": None, "played_at": "2026-03-01T10:01:00Z"},
            {"track": track(), "played_at": "2026-03-01T10:02:00Z"},
        ]
    }
    page = parse_recently_played(payload)
    assert page.item_count == 3
    assert [p.track.spotify_id for p in page.plays] == ["t1"]


def test_saved_tracks_playlists_and_items() -> None:
    saved = parse_saved_tracks(
        parse_page({"items": [{"added_at": "2026-01-01T00:00:00Z", "track": track()}], "next": None}, "saved")
    )
    assert saved[0].added_at.year == 2026 and saved[0].track.name == "Song"
    pls = parse_playlists(
        parse_page(
            {
                "items": [
                    {"id": "p1", "name": "Mine", "snapshot_id": "s1", "owner": {"id": "u1"}, "collaborative": False},
                    None,
                ],
                "next": None,
            },
            "playlists",
        )
    )
    assert [(p.spotify_id, p.owner_id, p.snapshot_id) for p in pls] == [("p1", "u1", "s1")]
    entries = parse_playlist_items(
        parse_page(
            {
                "items": [
                    {"added_at": "2026-01-01T00:00:00Z", "is_local": False, "item": track("t1")},
                    {"added_at": None, "is_local": True, "item": {"id": None, "name": "local", "type": "track"}},
                    {"added_at": "2026-01-02T00:00:00Z", "track": track("t3")},
                ]
            },
            "items",
        ),
        first_position=100,
    )
    assert [(e.position, e.track.spotify_id) for e in entries] == [(100, "t1"), (102, "t3")]


def test_followed_artists_are_paged_under_artists() -> None:
    page = parse_page(
        {"artists": {"items": [{"id": "a1", "name": "A"}], "next": "http://x", "cursors": {"after": "a1"}}},
        "following",
        wrapper="artists",
    )
    assert page.cursor_after == "a1" and page.next_url == "http://x"


def test_profile_uses_id_and_account_id() -> None:
    p = parse_profile({"id": "alice", "account_id": "acc-1", "display_name": None})
    assert (p.spotify_id, p.account_id, p.display_name) == ("alice", "acc-1", "alice")
    with pytest.raises(PayloadError):
        parse_profile({"display_name": "x"})

"""Listening statistics of one member: weekly hours, the heat map in their timezone, top lists, new versus familiar."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from web_helpers import NOW, track

from recs.core.domain import PlayRow
from recs.storage import Database
from recs.storage import schema as s
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member
from recs.usecases.stats import StatsCache, compute_listening_stats, last_acceptance
from web import charts


def _member_with(db: Database, plays: list[tuple[datetime, int]], tz: str = "UTC") -> tuple[int, list[int]]:
    with db.write() as conn:
        m = create_member(conn, f"user-{len(plays)}-{tz}", "Someone", timezone=tz, now=NOW)
        ids = upsert_tracks(conn, [track(n, n % 3) for n in range(6)])
        tids = [ids[f"t{n:021d}"] for n in range(6)]
        insert_plays(conn, m.id, [PlayRow(at, tids[i], "export", ms_played=1_800_000) for at, i in plays])
    return m.id, tids


def test_heat_map_uses_the_members_timezone(db: Database) -> None:
    # 23:30 UTC on a Tuesday is 08:30 Wednesday in Tokyo.
    at = datetime(2026, 11, 17, 23, 30, tzinfo=UTC)
    mid, _ = _member_with(db, [(at, 0)], tz="Asia/Tokyo")
    stats = compute_listening_stats(db, mid, "Asia/Tokyo", NOW)
    assert stats.heat[2][8] == 1
    assert sum(map(sum, stats.heat)) == 1
    utc = compute_listening_stats(db, mid, "UTC", NOW)
    assert utc.heat[1][23] == 1


def test_weeks_hours_and_new_versus_familiar(db: Database) -> None:
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    plays = [
        (monday, 0),  # first ever play of track 0: new
        (monday + timedelta(hours=1), 0),  # familiar now
        (monday + timedelta(hours=2), 1),  # new
        (monday - timedelta(days=7), 2),  # previous week, new
    ]
    mid, _ = _member_with(db, plays)
    stats = compute_listening_stats(db, mid, "UTC", NOW)
    assert len(stats.weeks) == 52
    this_week, last_week = stats.weeks[-1], stats.weeks[-2]
    assert this_week.start == date(2026, 11, 16)
    assert (this_week.plays, this_week.new_plays) == (3, 2)
    assert this_week.hours == 1.5  # 3 plays of 30 minutes
    assert (last_week.plays, last_week.new_plays) == (1, 1)
    november = stats.months[-1]
    assert (november.new_plays, november.familiar_plays) == (3, 1)
    assert stats.total_plays == 4
    assert stats.distinct_tracks == 3
    assert abs(stats.new_share_4w - 0.75) < 1e-9


def test_top_lists_respect_their_windows(db: Database) -> None:
    old = NOW - timedelta(days=100)
    plays = [(old + timedelta(minutes=i), 0) for i in range(5)]  # track 0: often, but long ago
    plays += [(NOW - timedelta(days=1, minutes=i), 1) for i in range(2)]  # track 1: recent
    mid, tids = _member_with(db, plays)
    stats = compute_listening_stats(db, mid, "UTC", NOW)
    assert [t.id for t in stats.top_tracks["4w"]] == [tids[1]]
    assert [t.id for t in stats.top_tracks["6m"]] == [tids[0], tids[1]]
    assert stats.top_tracks["all"][0].plays == 5
    assert stats.top_tracks["4w"][0].detail == "Artist 1"
    assert [a.name for a in stats.top_artists["4w"]] == ["Artist 1"]


def test_stats_of_one_member_ignore_the_others(db: Database) -> None:
    a, _ = _member_with(db, [(NOW - timedelta(hours=1), 0)])
    b, _ = _member_with(db, [(NOW - timedelta(hours=2), 1), (NOW - timedelta(hours=3), 1)], tz="Europe/Paris")
    assert compute_listening_stats(db, a, "UTC", NOW).total_plays == 1
    assert compute_listening_stats(db, b, "UTC", NOW).total_plays == 2


def test_cache_recomputes_when_plays_change(db: Database) -> None:
    mid, tids = _member_with(db, [(NOW - timedelta(hours=1), 0)])
    cache = StatsCache()
    first = cache.get(db, mid, "UTC", NOW)
    assert cache.get(db, mid, "UTC", NOW) is first
    with db.write() as conn:
        insert_plays(conn, mid, [PlayRow(NOW - timedelta(hours=2), tids[1], "api", ms_played=None)])
    again = cache.get(db, mid, "UTC", NOW)
    assert again is not first
    assert again.total_plays == 2
    # An API play without ms_played counts the track's length (3 minutes).
    assert abs(again.total_hours - (0.5 + 0.05)) < 1e-9


def test_unknown_timezone_falls_back_to_utc(db: Database) -> None:
    mid, _ = _member_with(db, [(NOW - timedelta(hours=1), 0)])
    assert compute_listening_stats(db, mid, "Mars/Olympus", NOW).timezone == "UTC"


def test_acceptance_counts_published_tracks_played_since(db: Database) -> None:
    mid, tids = _member_with(db, [])
    written = NOW - timedelta(days=7)
    with db.write() as conn:
        uris = [f"spotify:track:t{n:021d}" for n in range(4)]
        conn.execute(
            s.published_playlists.insert().values(member_id=mid, kind="discover", track_uris=uris, written_at=written)
        )
        insert_plays(
            conn,
            mid,
            [
                PlayRow(written + timedelta(days=1), tids[0], "api"),
                PlayRow(written + timedelta(days=2), tids[0], "api"),
                PlayRow(written - timedelta(days=1), tids[1], "api"),  # before publishing: does not count
                PlayRow(written + timedelta(days=1), tids[5], "api"),  # not on the list
            ],
        )
    (acc,) = last_acceptance(db, mid)
    assert (acc.published, acc.played) == (4, 1)
    assert acc.share == 0.25


def test_charts_are_well_formed_svg_with_escaped_labels() -> None:
    bar = charts.bar_chart(["<b>", "x"], [1.0, 2.5], title="T & U", unit="h")
    heat = charts.heat_map([[0] * 24 for _ in range(7)], title="heat")
    stacked = charts.stacked_bars(["Jan"], [(1, 3)], title="s", names=("new", "old"))
    lines = charts.line_chart(
        ["a", "b", "c"],
        [charts.Series("m", [0.1, None, 0.3]), charts.Series("b", [0.05, 0.06, 0.07], dashed=True)],
        title="l",
    )
    for svg in (bar, heat, stacked, lines):
        root = ET.fromstring(str(svg))
        assert root.tag.endswith("svg")
        assert root.get("role") == "img"
    assert "&lt;b&gt;" in str(bar)
    assert "<b>" not in str(bar)
    assert "25%" in str(stacked)
    # The missing middle value breaks the model's line in two.
    paths = [p.get("d") or "" for p in ET.fromstring(str(lines)).iter("{http://www.w3.org/2000/svg}path")]
    assert [p.count("M") for p in paths] == [2, 1]


def test_stats_and_feedback_queries_on_both_databases(any_db: Database) -> None:
    """The dialect-specific hour grouping and the upserts behave the same on SQLite and PostgreSQL."""
    at = datetime(2026, 11, 17, 23, 30, tzinfo=UTC)
    mid, tids = _member_with(any_db, [(at, 0), (at + timedelta(minutes=10), 0), (at - timedelta(days=40), 1)])
    stats = compute_listening_stats(any_db, mid, "Asia/Tokyo", NOW)
    assert stats.heat[2][8] == 2
    assert stats.total_plays == 3 and stats.distinct_tracks == 2
    assert [t.plays for t in stats.top_tracks["all"]] == [2, 1]
    assert stats.months[-1].new_plays == 1 and stats.months[-1].familiar_plays == 1
    from recs.usecases import feedback

    today = NOW.date()
    feedback.block_artist(any_db, mid, _artist_of(any_db, tids[0]), None, today, NOW)
    feedback.block_artist(any_db, mid, _artist_of(any_db, tids[0]), today + timedelta(days=3), today, NOW)
    (block,) = feedback.blocked_artists(any_db, mid, today)
    assert block.until == today + timedelta(days=3)
    values = feedback.validate_playlist_settings("10", True, False, "weekly", "1", "06:15")
    feedback.save_playlist_settings(any_db, mid, values)
    feedback.save_playlist_settings(any_db, mid, values)
    from recs.core.config import PublishSettings

    assert feedback.playlist_settings(any_db, mid, PublishSettings()) == values


def _artist_of(db: Database, track_id: int) -> int:
    import sqlalchemy as sa

    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(s.track_artists.c.artist_id).where(s.track_artists.c.track_id == track_id)
            ).scalar_one()
        )

"""Release Radar queries: a member's love signals, each artist's last check, the recordings known and found, and member settings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, func, or_, select

from recs.core.domain import AlbumInfo, ArtistInfo, TrackInfo
from recs.core.radar import ReleasedTrack
from recs.storage.catalog import upsert_tracks
from recs.storage.dialect import insert_ignore, upsert
from recs.storage.schema import (
    albums,
    artists,
    followed_artists,
    plays,
    radar_artists,
    radar_finds,
    radar_settings,
    saved_tracks,
    top_items,
    track_artists,
    tracks,
)

CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# ---- a member's signals ------------------------------------------------------------------------------


def member_plays(conn: Connection, member_id: int) -> Iterator[tuple[datetime, list[int]]]:
    """(played_at, credited artist ids) of each of the member's plays, streamed (never all in memory)."""
    stmt = (
        select(plays.c.id, plays.c.played_at, track_artists.c.artist_id)
        .join(track_artists, track_artists.c.track_id == plays.c.track_id)
        .where(plays.c.member_id == member_id)
        .order_by(plays.c.id, track_artists.c.position)
    )
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(stmt)
    for _play, rows in groupby(result, key=lambda r: r[0]):
        items = list(rows)
        yield items[0][1], [int(r[2]) for r in items]


def member_saves(conn: Connection, member_id: int) -> list[tuple[datetime | None, list[int]]]:
    """(added_at, credited artist ids) of each of the member's liked songs."""
    stmt = (
        select(saved_tracks.c.track_id, saved_tracks.c.added_at, track_artists.c.artist_id)
        .join(track_artists, track_artists.c.track_id == saved_tracks.c.track_id)
        .where(saved_tracks.c.member_id == member_id)
        .order_by(saved_tracks.c.track_id, track_artists.c.position)
    )
    out = []
    for _track, rows in groupby(conn.execute(stmt), key=lambda r: r[0]):
        items = list(rows)
        out.append((items[0][1], [int(r[2]) for r in items]))
    return out


def member_follows(conn: Connection, member_id: int) -> list[tuple[int, datetime]]:
    """(artist id, when recs saw the follow) of the artists the member follows."""
    stmt = select(followed_artists.c.artist_id, followed_artists.c.seen_at).where(
        followed_artists.c.member_id == member_id
    )
    return [(int(a), at) for a, at in conn.execute(stmt)]


TOP_RANGES = ("medium_term", "short_term", "long_term")


def member_top_artists(conn: Connection, member_id: int) -> tuple[datetime | None, list[int]]:
    """The member's latest top-artists snapshot (medium term, else short, else long): when, and the artists best first."""
    for time_range in TOP_RANGES:
        taken = conn.execute(
            select(func.max(top_items.c.taken_at)).where(
                top_items.c.member_id == member_id,
                top_items.c.kind == "artists",
                top_items.c.time_range == time_range,
            )
        ).scalar()
        if taken is None:
            continue
        rows = conn.execute(
            select(top_items.c.artist_id)
            .where(
                top_items.c.member_id == member_id,
                top_items.c.kind == "artists",
                top_items.c.time_range == time_range,
                top_items.c.taken_at == taken,
                top_items.c.artist_id.is_not(None),
            )
            .order_by(top_items.c.rank)
        )
        return taken, [int(r[0]) for r in rows]
    return None, []


def artist_spotify_ids(conn: Connection, artist_ids: Iterable[int]) -> dict[int, str]:
    """Row id -> Spotify id of the artists that have one (name-only artists cannot be checked)."""
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(set(artist_ids))):
        stmt = select(artists.c.id, artists.c.spotify_id).where(
            artists.c.id.in_(chunk), artists.c.spotify_id.is_not(None)
        )
        out.update({int(a): str(s) for a, s in conn.execute(stmt)})
    return out


def artist_names(conn: Connection, artist_ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(set(artist_ids))):
        out.update(
            {
                int(a): str(n)
                for a, n in conn.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(chunk)))
            }
        )
    return out


# ---- checks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtistCheck:
    checked_on: date
    checked_at: datetime
    albums_read: tuple[tuple[str, str], ...]  # (album Spotify id, release date) of releases in the window read


def checks(conn: Connection) -> dict[int, ArtistCheck]:
    """Every artist's last check, by artist row id."""
    out = {}
    for artist_id, on, at, read in conn.execute(select(radar_artists)):
        pairs = tuple((str(a), str(d)) for a, d in (read or []))
        out[int(artist_id)] = ArtistCheck(on, at, pairs)
    return out


def known_recordings(conn: Connection, artist_id: int, artist_spotify_id: str, since: str) -> list[ReleasedTrack]:
    """Recordings crediting the artist that are out already: stored tracks on releases older than *since* (or of
    unknown date), and every track the radar found before. A stored track released within the window that the
    radar has not found is left out: a member heard it early, and it is still new to the others."""
    found = select(radar_finds.c.track_id)
    stmt = (
        select(tracks.c.spotify_id, tracks.c.name, tracks.c.isrc)
        .join(track_artists, track_artists.c.track_id == tracks.c.id)
        .outerjoin(albums, albums.c.id == tracks.c.album_id)
        .where(
            track_artists.c.artist_id == artist_id,
            or_(albums.c.release_date.is_(None), albums.c.release_date < since, tracks.c.id.in_(found)),
        )
    )
    return [
        ReleasedTrack(str(sid or ""), str(name), (artist_spotify_id,), isrc) for sid, name, isrc in conn.execute(stmt)
    ]


@dataclass(frozen=True)
class Found:
    """A new recording a check found, as the catalogue stores it."""

    track: TrackInfo
    release_date: str


def record_check(
    conn: Connection,
    artist_id: int,
    today: date,
    now: datetime,
    found: Sequence[Found],
    albums_read: Sequence[tuple[str, str]],
) -> int:
    """Store one artist's check: its new recordings (in the catalogue, and as finds) and the releases read.

    Returns how many finds were new (a track found again is kept once)."""
    ids = upsert_tracks(conn, [f.track for f in found])
    rows = [
        {"track_id": ids[f.track.spotify_id], "artist_id": artist_id, "release_date": f.release_date, "found_on": today}
        for f in found
        if f.track.spotify_id in ids
    ]
    added = insert_ignore(conn, radar_finds, rows)
    upsert(
        conn,
        radar_artists,
        [
            {
                "artist_id": artist_id,
                "checked_on": today,
                "checked_at": now,
                "albums_read": [list(p) for p in albums_read],
            }
        ],
        keys=("artist_id",),
        update=("checked_on", "checked_at", "albums_read"),
    )
    return added


def found_track(
    spotify_id: str, name: str, artists_: Sequence[tuple[str, str]], isrc: str | None, album: tuple[str, str, str]
) -> TrackInfo:
    """A found recording as the catalogue takes it: artists as (Spotify id, name), album as (id, name, date)."""
    return TrackInfo(
        spotify_id,
        name,
        tuple(ArtistInfo(a, n or a) for a, n in artists_),
        AlbumInfo(album[0], album[1], album[2][:10] or None),
        isrc=isrc,
    )


@dataclass(frozen=True)
class Find:
    """A stored find, with what a member's playlist needs."""

    track_id: int
    spotify_id: str
    release_date: str
    credited: tuple[int, ...]  # every credited artist, in order (the artist cap and blocks count them all)


def finds_of(conn: Connection, artist_ids: Iterable[int], since: str) -> list[Find]:
    """The finds released on or after *since* that credit one of these artists, newest first."""
    wanted: set[int] = set()
    for chunk in _chunks(sorted(set(artist_ids))):
        wanted.update(
            int(r[0])
            for r in conn.execute(
                select(radar_finds.c.track_id)
                .join(track_artists, track_artists.c.track_id == radar_finds.c.track_id)
                .where(track_artists.c.artist_id.in_(chunk), radar_finds.c.release_date >= since)
                .distinct()
            )
        )
    out: list[Find] = []
    for part in _chunks(sorted(wanted)):
        credited: dict[int, list[tuple[int, int]]] = {}
        for tid, pos, aid in conn.execute(
            select(track_artists.c.track_id, track_artists.c.position, track_artists.c.artist_id).where(
                track_artists.c.track_id.in_(part)
            )
        ):
            credited.setdefault(int(tid), []).append((int(pos), int(aid)))
        rows = conn.execute(
            select(radar_finds.c.track_id, tracks.c.spotify_id, radar_finds.c.release_date)
            .join(tracks, tracks.c.id == radar_finds.c.track_id)
            .where(radar_finds.c.track_id.in_(part), tracks.c.spotify_id.is_not(None))
        )
        out += [Find(int(t), str(s), str(d), tuple(x for _, x in sorted(credited.get(int(t), [])))) for t, s, d in rows]
    out.sort(key=lambda f: (f.release_date, f.track_id), reverse=True)
    return out


def prune_finds(conn: Connection, before: str) -> int:
    """Forget finds released before *before* (the window's start): no playlist takes them any more, and the
    catalogue keeps their tracks with their release dates, which is what the re-release rule reads then."""
    return int(conn.execute(radar_finds.delete().where(radar_finds.c.release_date < before)).rowcount)


# ---- member settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RadarSettingsRow:
    enabled: bool
    size: int
    weekday: int  # 0 = Monday
    local_time: str  # HH:MM in the member's timezone


def get_settings(conn: Connection, member_id: int) -> RadarSettingsRow | None:
    row = conn.execute(select(radar_settings).where(radar_settings.c.member_id == member_id)).first()
    if row is None:
        return None
    m = row._mapping
    return RadarSettingsRow(bool(m["enabled"]), int(m["size"]), int(m["weekday"]), str(m["local_time"]))


def save_settings(conn: Connection, member_id: int, values: RadarSettingsRow) -> None:
    row = {
        "member_id": member_id,
        "enabled": values.enabled,
        "size": values.size,
        "weekday": values.weekday,
        "local_time": values.local_time,
    }
    upsert(conn, radar_settings, [row], keys=("member_id",), update=[k for k in row if k != "member_id"])


def members_with_settings(conn: Connection) -> dict[int, RadarSettingsRow]:
    out = {}
    for r in conn.execute(select(radar_settings)):
        m = r._mapping
        out[int(m["member_id"])] = RadarSettingsRow(
            bool(m["enabled"]), int(m["size"]), int(m["weekday"]), str(m["local_time"])
        )
    return out

"""A small synthetic household stored through the real storage functions, for training tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from recs.core.domain import AlbumInfo, ArtistInfo, PlayRow, TrackInfo
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.storage.schema import (
    blocked_artists,
    excluded_contexts,
    hidden_tracks,
    playlist_items,
    playlists,
    published_playlists,
    saved_tracks,
    top_items,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GENRES = 4
ARTISTS_PER_GENRE = 4
TRACKS_PER_ARTIST = 4


@dataclass
class Household:
    db: Database
    members: dict[str, int] = field(default_factory=dict)
    # genre -> artist index -> list of track ids
    tracks: dict[int, dict[int, list[int]]] = field(default_factory=dict)
    artist_of: dict[int, int] = field(default_factory=dict)  # track id -> artist row id
    genre_of: dict[int, int] = field(default_factory=dict)

    def genre_tracks(self, genre: int) -> list[int]:
        return [t for tracks in self.tracks[genre].values() for t in tracks]

    def played(self, member_id: int) -> set[int]:
        from recs.storage.schema import plays

        with self.db.read() as conn:
            return {r[0] for r in conn.execute(sa.select(plays.c.track_id).where(plays.c.member_id == member_id))}


def track_info(genre: int, artist: int, n: int) -> TrackInfo:
    a = ArtistInfo(f"art{genre}x{artist}", f"Artist {genre}-{artist}")
    return TrackInfo(
        spotify_id=f"trk{genre}x{artist}x{n}",
        name=f"Song {genre}-{artist}-{n}",
        artists=(a,),
        album=AlbumInfo(f"alb{genre}x{artist}", f"Album {genre}-{artist}"),
        duration_ms=200_000,
    )


def build(
    db: Database,
    *,
    seed: int = 7,
    days: int = 240,
    members: dict[str, tuple[int, ...]] | None = None,
    now: datetime = NOW,
) -> Household:
    """Members listen in sessions within their genres over *days* days up to NOW; all consent to training."""
    rng = np.random.default_rng(seed)
    taste = members or {"ann": (0, 1), "bob": (1, 2), "cat": (2, 3)}
    h = Household(db)
    with db.write() as conn:
        infos = {
            (g, a, n): track_info(g, a, n)
            for g in range(GENRES)
            for a in range(ARTISTS_PER_GENRE)
            for n in range(TRACKS_PER_ARTIST)
        }
        ids = upsert_tracks(conn, infos.values())
        from recs.storage.schema import track_artists

        for (g, a, _n), info in infos.items():
            tid = ids[info.spotify_id or ""]
            h.tracks.setdefault(g, {}).setdefault(a, []).append(tid)
            h.genre_of[tid] = g
        for tid, aid in conn.execute(sa.select(track_artists.c.track_id, track_artists.c.artist_id)):
            h.artist_of[tid] = aid
        for name, genres in taste.items():
            m = create_member(conn, f"sp-{name}", name.title(), now=now - timedelta(days=days + 1))
            h.members[name] = m.id
            set_consent(conn, m.id, "train", True, now=now - timedelta(days=days))
            rows: list[PlayRow] = []
            k_member = len(h.members) - 1
            # The last artist of each genre is new: this member finds it 30, 20, 10 ... days before NOW.
            found_new = days - 30 + 10 * k_member
            for day in range(days):
                for _session in range(2):
                    # Most sessions stay in one genre; some mix the member's genres, as people do.
                    mixed = rng.random() < 0.3
                    chosen = genres if mixed else (int(rng.choice(genres)),)
                    pool = [
                        t
                        for g in chosen
                        for a, ts in h.tracks[g].items()
                        if a < ARTISTS_PER_GENRE - 1 or day >= found_new
                        for t in ts
                    ]
                    # Members favour some tracks: a skewed choice within the pool.
                    weights = np.linspace(2.0, 0.5, len(pool))
                    weights /= weights.sum()
                    start = now - timedelta(days=days - day, hours=int(rng.integers(0, 12)))
                    for k in range(int(rng.integers(3, 7))):
                        tid = int(rng.choice(pool, p=weights))
                        rows.append(PlayRow(start + timedelta(minutes=4 * k), tid, "api", ms_played=180_000))
            insert_plays(conn, m.id, rows)
    return h


def hide(db: Database, member_id: int, track_id: int) -> None:
    with db.write() as conn:
        conn.execute(hidden_tracks.insert().values(member_id=member_id, track_id=track_id, created_at=NOW))


def block(db: Database, member_id: int, artist_id: int, until: date | None = None) -> None:
    with db.write() as conn:
        conn.execute(
            blocked_artists.insert().values(member_id=member_id, artist_id=artist_id, until=until, created_at=NOW)
        )


def exclude_context(db: Database, member_id: int, uri: str) -> None:
    with db.write() as conn:
        conn.execute(
            excluded_contexts.insert().values(member_id=member_id, context_uri=uri, label="kids", created_at=NOW)
        )


def publish(db: Database, member_id: int, playlist_id: str) -> None:
    with db.write() as conn:
        conn.execute(
            published_playlists.insert().values(member_id=member_id, kind="discover", spotify_playlist_id=playlist_id)
        )


def save(db: Database, member_id: int, track_ids: list[int]) -> None:
    with db.write() as conn:
        for t in track_ids:
            conn.execute(
                saved_tracks.insert().values(member_id=member_id, track_id=t, added_at=NOW - timedelta(days=30))
            )


def own_playlist(db: Database, member_id: int, spotify_id: str, track_ids: list[int]) -> int:
    with db.write() as conn:
        pid = conn.execute(
            playlists.insert().values(
                member_id=member_id, spotify_id=spotify_id, name="mine", owned=True, updated_at=NOW
            )
        ).inserted_primary_key[0]
        for pos, t in enumerate(track_ids):
            conn.execute(playlist_items.insert().values(playlist_id=pid, position=pos, track_id=t))
    return int(pid)


def top_tracks(db: Database, member_id: int, track_ids: list[int]) -> None:
    with db.write() as conn:
        for rank, t in enumerate(track_ids, start=1):
            conn.execute(
                top_items.insert().values(
                    member_id=member_id, kind="tracks", time_range="short_term", taken_at=NOW, rank=rank, track_id=t
                )
            )

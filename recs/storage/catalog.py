"""Catalogue queries: artists, albums and tracks, upserted from payloads and exports, keyed by Spotify id or name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Table, select

from recs.core.domain import AlbumInfo, ArtistInfo, TrackInfo, TrackRow
from recs.core.names import normalise, track_key
from recs.storage.dialect import insert_ignore
from recs.storage.schema import albums, artists, track_artists, tracks


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ids_by_spotify(conn: Connection, table: Table, spotify_ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(set(spotify_ids))):
        stmt = select(table.c.spotify_id, table.c.id).where(table.c.spotify_id.in_(chunk))
        out.update({row[0]: row[1] for row in conn.execute(stmt)})
    return out


def _ids_by_name_key(conn: Connection, table: Table, keys: Sequence[str]) -> dict[str, int]:
    """Name-only rows (no Spotify id) by name key."""
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(set(keys))):
        stmt = select(table.c.name_key, table.c.id).where(
            table.c.name_key.in_(chunk),
            table.c.spotify_id.is_(None),
        )
        out.update({row[0]: row[1] for row in conn.execute(stmt)})
    return out


def upsert_artists(conn: Connection, items: Iterable[ArtistInfo]) -> dict[str, int]:
    """Ensure each artist exists; returns key (Spotify id, or 'name:<key>') -> row id."""
    by_id: dict[str, ArtistInfo] = {}
    by_name: dict[str, ArtistInfo] = {}
    for a in items:
        if a.spotify_id:
            by_id.setdefault(a.spotify_id, a)
        else:
            by_name.setdefault(normalise(a.name), a)
    insert_ignore(
        conn,
        artists,
        [
            {
                "spotify_id": sid,
                "name": a.name,
                "name_key": normalise(a.name),
                "image_url": a.image_url,
            }
            for sid, a in by_id.items()
        ],
    )
    out = _ids_by_spotify(conn, artists, list(by_id))
    if by_name:
        known = _ids_by_name_key(conn, artists, list(by_name))
        missing = [k for k in by_name if k not in known]
        for key in missing:
            result = conn.execute(artists.insert().values(spotify_id=None, name=by_name[key].name, name_key=key))
            known[key] = int(result.inserted_primary_key[0])  # type: ignore[index]
        out.update({f"name:{k}": v for k, v in known.items()})
    return out


def upsert_albums(conn: Connection, items: Iterable[AlbumInfo]) -> dict[str, int]:
    by_id: dict[str, AlbumInfo] = {}
    for a in items:
        if a.spotify_id:
            by_id.setdefault(a.spotify_id, a)
    insert_ignore(
        conn,
        albums,
        [
            {
                "spotify_id": sid,
                "name": a.name,
                "name_key": normalise(a.name),
                "release_date": a.release_date,
                "image_url": a.image_url,
            }
            for sid, a in by_id.items()
        ],
    )
    return _ids_by_spotify(conn, albums, list(by_id))


def track_lookup_key(t: TrackInfo) -> str:
    """The key upsert_tracks returns for a track: its Spotify id, or 'name:<artist|title>'."""
    return t.spotify_id or "name:" + track_key(t.primary_artist, t.name)


def upsert_tracks(conn: Connection, items: Iterable[TrackInfo]) -> dict[str, int]:
    """Ensure each track (with its album and artists) exists; returns track_lookup_key -> row id.

    A track seen with a Spotify id is stored once per id; a track known only by name is stored
    once per name key and can be resolved later.
    """
    seen: dict[str, TrackInfo] = {}
    for t in items:
        seen.setdefault(track_lookup_key(t), t)
    if not seen:
        return {}
    with_id = {k: t for k, t in seen.items() if t.spotify_id}
    existing = _ids_by_spotify(conn, tracks, list(with_id))
    new = [t for k, t in with_id.items() if k not in existing]
    out: dict[str, int] = dict(existing)
    if new:
        album_ids = upsert_albums(conn, [t.album for t in new if t.album])
        artist_ids = upsert_artists(conn, [a for t in new for a in t.artists])
        insert_ignore(
            conn,
            tracks,
            [
                {
                    "spotify_id": t.spotify_id,
                    "name": t.name,
                    "name_key": track_key(t.primary_artist, t.name),
                    "album_id": album_ids.get(t.album.spotify_id or "") if t.album else None,
                    "duration_ms": t.duration_ms,
                    "isrc": t.isrc,
                    "explicit": t.explicit,
                    "resolve_attempts": 0,
                }
                for t in new
            ],
        )
        created = _ids_by_spotify(conn, tracks, [t.spotify_id for t in new if t.spotify_id])
        out.update(created)
        links = []
        for t in new:
            tid = created[t.spotify_id or ""]
            for pos, a in enumerate(t.artists):
                key = a.spotify_id or f"name:{normalise(a.name)}"
                links.append({"track_id": tid, "position": pos, "artist_id": artist_ids[key]})
        insert_ignore(conn, track_artists, links)
    name_only = {k: t for k, t in seen.items() if not t.spotify_id}
    if name_only:
        keys = {k: k.removeprefix("name:") for k in name_only}
        # A name-only track may match a known track with an id: prefer that one.
        matched = _match_names(conn, list(keys.values()))
        for k, nk in keys.items():
            if nk in matched:
                out[k] = matched[nk]
        missing = [k for k in name_only if k not in out]
        if missing:
            artist_ids = upsert_artists(
                conn,
                [ArtistInfo(None, name_only[k].primary_artist) for k in missing if name_only[k].primary_artist],
            )
            for k in missing:
                t = name_only[k]
                result = conn.execute(
                    tracks.insert().values(
                        spotify_id=None,
                        name=t.name,
                        name_key=keys[k],
                        duration_ms=t.duration_ms,
                        resolve_attempts=0,
                    )
                )
                tid = int(result.inserted_primary_key[0])  # type: ignore[index]
                if t.primary_artist:
                    conn.execute(
                        track_artists.insert().values(
                            track_id=tid,
                            position=0,
                            artist_id=artist_ids[f"name:{normalise(t.primary_artist)}"],
                        )
                    )
                out[k] = tid
    return out


def _match_names(conn: Connection, name_keys: Sequence[str]) -> dict[str, int]:
    """Name key -> track id, preferring a track with a Spotify id (lowest id wins for determinism)."""
    out: dict[str, tuple[bool, int]] = {}
    for chunk in _chunks(sorted(set(name_keys))):
        stmt = select(tracks.c.name_key, tracks.c.id, tracks.c.spotify_id).where(tracks.c.name_key.in_(chunk))
        for key, tid, sid in conn.execute(stmt):
            rank = (sid is None, tid)
            if key not in out or rank < (out[key][0], out[key][1]):
                out[key] = (sid is None, tid)
    return {k: v[1] for k, v in out.items()}


def get_tracks(conn: Connection, track_ids: Iterable[int]) -> dict[int, TrackRow]:
    """Display data for tracks, with artists in credit order."""
    ids = sorted(set(track_ids))
    out: dict[int, TrackRow] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            select(
                tracks.c.id,
                tracks.c.spotify_id,
                tracks.c.name,
                tracks.c.duration_ms,
                albums.c.name,
                albums.c.image_url,
            )
            .select_from(tracks.outerjoin(albums, tracks.c.album_id == albums.c.id))
            .where(tracks.c.id.in_(chunk))
        ).all()
        links: dict[int, list[tuple[int, int, str]]] = {}
        for tid, pos, aid, aname in conn.execute(
            select(track_artists.c.track_id, track_artists.c.position, artists.c.id, artists.c.name)
            .join(artists, artists.c.id == track_artists.c.artist_id)
            .where(track_artists.c.track_id.in_(chunk))
        ):
            links.setdefault(tid, []).append((pos, aid, aname))
        for tid, sid, name, dur, album_name, image in rows:
            credits = sorted(links.get(tid, []))
            out[tid] = TrackRow(
                id=tid,
                spotify_id=sid,
                name=name,
                artist_names=tuple(c[2] for c in credits),
                artist_ids=tuple(c[1] for c in credits),
                album_name=album_name,
                image_url=image,
                duration_ms=dur,
            )
    return out


def spotify_ids_of(conn: Connection, track_ids: Iterable[int]) -> dict[int, str]:
    """Track id -> Spotify id, for the tracks that have one."""
    ids = sorted(set(track_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        stmt = select(tracks.c.id, tracks.c.spotify_id).where(
            tracks.c.id.in_(ids[start : start + 500]), tracks.c.spotify_id.is_not(None)
        )
        out.update({int(row[0]): str(row[1]) for row in conn.execute(stmt)})
    return out


def refresh_track(conn: Connection, track_id: int, info: TrackInfo) -> None:
    """Replace a stored track's display data (name, artists, album, duration, ISRC) with Spotify's own.

    For a track first stored from a source that knew only names (the community prior): its Spotify id stays.
    """
    album_ids = upsert_albums(conn, [info.album] if info.album else [])
    artist_ids = upsert_artists(conn, info.artists)
    conn.execute(
        tracks.update()
        .where(tracks.c.id == track_id)
        .values(
            name=info.name,
            name_key=track_key(info.primary_artist, info.name),
            album_id=album_ids.get(info.album.spotify_id or "") if info.album else None,
            duration_ms=info.duration_ms,
            isrc=info.isrc,
            explicit=info.explicit,
        )
    )
    conn.execute(track_artists.delete().where(track_artists.c.track_id == track_id))
    links = [
        {"track_id": track_id, "position": pos, "artist_id": artist_ids[a.spotify_id or f"name:{normalise(a.name)}"]}
        for pos, a in enumerate(info.artists)
    ]
    insert_ignore(conn, track_artists, links)

"""Read-only queries behind the dashboard: one member's listening aggregates, and the instance's health for the owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select

from recs.core.domain import (
    Gap,
    HourBucket,
    ImportRecord,
    InviteOverview,
    ModelRunRow,
    PublishedRow,
    SyncHealth,
    TopEntry,
)
from recs.storage.imports import import_record
from recs.storage.schema import (
    albums,
    api_calls,
    artists,
    consents,
    imports,
    instance_state,
    invites,
    members,
    model_runs,
    plays,
    published_playlists,
    rejected_tracks,
    sync_cursors,
    sync_gaps,
    tokens,
    track_artists,
    tracks,
)


def _hour_key(conn: Connection, column: Any) -> ColumnElement[Any]:
    """The UTC hour of a timestamp as 'YYYY-MM-DD HH' text, spelled per dialect."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    # SQLite stores UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC).
    return func.substr(column, 1, 13)


def _parse_hour(key: str) -> datetime:
    # Slicing, not strptime: a year of history is thousands of keys and strptime was most of the page's time.
    return datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), tzinfo=UTC)


def _ms_played() -> ColumnElement[Any]:
    # API plays carry no ms_played: count the track's length instead.
    return func.coalesce(plays.c.ms_played, tracks.c.duration_ms, 0)


def play_fingerprint(conn: Connection, member_id: int) -> tuple[int, int, int]:
    """(number of plays, highest play row id, highest album row id): changes whenever the member's plays change,
    or the catalogue gains albums (a sync gives exported tracks their albums and covers)."""
    newest_album = select(func.coalesce(func.max(albums.c.id), 0)).scalar_subquery()
    count, top, album = conn.execute(
        select(func.count(), func.coalesce(func.max(plays.c.id), 0), newest_album).where(plays.c.member_id == member_id)
    ).one()
    return int(count), int(top), int(album)


def hourly_plays(conn: Connection, member_id: int) -> list[HourBucket]:
    """Plays and time played per UTC hour, oldest first (at most 24 rows per day of history)."""
    key = _hour_key(conn, plays.c.played_at).label("hour")
    stmt = (
        select(key, func.count(), func.sum(_ms_played()))
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.member_id == member_id)
        .group_by(key)
        .order_by(key)
    )
    return [HourBucket(_parse_hour(str(h)), int(n), int(ms or 0)) for h, n, ms in conn.execute(stmt)]


def hourly_first_plays(conn: Connection, member_id: int) -> dict[datetime, int]:
    """UTC hour -> how many tracks the member played for the first time ever in that hour."""
    first = (
        select(func.min(plays.c.played_at).label("first_at"))
        .where(plays.c.member_id == member_id)
        .group_by(plays.c.track_id)
        .subquery()
    )
    key = _hour_key(conn, first.c.first_at).label("hour")
    stmt = select(key, func.count()).select_from(first).group_by(key)
    return {_parse_hour(str(h)): int(n) for h, n in conn.execute(stmt)}


def _primary_artists(conn: Connection, track_ids: Sequence[int]) -> dict[int, str]:
    return {
        int(t): str(n)
        for t, n in conn.execute(
            select(track_artists.c.track_id, artists.c.name)
            .join(artists, artists.c.id == track_artists.c.artist_id)
            .where(track_artists.c.track_id.in_(list(track_ids)), track_artists.c.position == 0)
        )
    }


def _track_entries(conn: Connection, rows: Sequence[tuple[int, int, int, datetime | None]]) -> list[TopEntry]:
    """(track id, plays, ms, played at) rows as entries with the track's name, primary artist and cover."""
    ids = sorted({int(r[0]) for r in rows})
    info = {
        int(t): (str(name), sid, image)
        for t, name, sid, image in conn.execute(
            select(tracks.c.id, tracks.c.name, tracks.c.spotify_id, albums.c.image_url)
            .select_from(tracks.outerjoin(albums, albums.c.id == tracks.c.album_id))
            .where(tracks.c.id.in_(ids))
        )
    }
    primary = _primary_artists(conn, ids)
    out = []
    for t, c, ms, at in rows:
        name, sid, image = info.get(int(t), ("", None, None))
        out.append(TopEntry(int(t), name, primary.get(int(t), ""), int(c), int(ms or 0), image, sid, at))
    return out


def top_tracks(conn: Connection, member_id: int, since: datetime | None, limit: int = 10) -> list[TopEntry]:
    """The member's most played tracks since *since* (all time when None), with their primary artist and cover."""
    n = func.count().label("n")
    stmt = (
        select(plays.c.track_id, n, func.sum(_ms_played()))
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.member_id == member_id)
        .group_by(plays.c.track_id)
        .order_by(n.desc(), plays.c.track_id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(plays.c.played_at >= since)
    return _track_entries(conn, [(int(t), int(c), int(ms or 0), None) for t, c, ms in conn.execute(stmt)])


def top_artists(conn: Connection, member_id: int, since: datetime | None, limit: int = 10) -> list[TopEntry]:
    """The member's most played artists (by primary credit) since *since* (all time when None)."""
    n = func.count().label("n")
    stmt = (
        select(track_artists.c.artist_id, n, func.sum(_ms_played()))
        .select_from(
            plays.join(tracks, tracks.c.id == plays.c.track_id).join(
                track_artists, (track_artists.c.track_id == plays.c.track_id) & (track_artists.c.position == 0)
            )
        )
        .where(plays.c.member_id == member_id)
        .group_by(track_artists.c.artist_id)
        .order_by(n.desc(), track_artists.c.artist_id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(plays.c.played_at >= since)
    rows = conn.execute(stmt).all()
    ids = [int(r[0]) for r in rows]
    info = {
        int(a): (str(name), sid, image)
        for a, name, sid, image in conn.execute(
            select(artists.c.id, artists.c.name, artists.c.spotify_id, artists.c.image_url).where(artists.c.id.in_(ids))
        )
    }
    out = []
    for a, c, ms in rows:
        name, sid, image = info.get(int(a), ("", None, None))
        out.append(TopEntry(int(a), name, "", int(c), int(ms or 0), image, sid))
    return out


def top_albums(conn: Connection, member_id: int, since: datetime | None, limit: int = 10) -> list[TopEntry]:
    """The member's most played albums since *since* (all time when None), each with a credited artist."""
    n = func.count().label("n")
    stmt = (
        select(tracks.c.album_id, n, func.sum(_ms_played()), func.min(plays.c.track_id))
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.member_id == member_id, tracks.c.album_id.is_not(None))
        .group_by(tracks.c.album_id)
        .order_by(n.desc(), tracks.c.album_id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(plays.c.played_at >= since)
    rows = conn.execute(stmt).all()
    ids = [int(r[0]) for r in rows]
    info = {
        int(a): (str(name), sid, image)
        for a, name, sid, image in conn.execute(
            select(albums.c.id, albums.c.name, albums.c.spotify_id, albums.c.image_url).where(albums.c.id.in_(ids))
        )
    }
    primary = _primary_artists(conn, [int(r[3]) for r in rows])
    out = []
    for a, c, ms, some_track in rows:
        name, sid, image = info.get(int(a), ("", None, None))
        out.append(TopEntry(int(a), name, primary.get(int(some_track), ""), int(c), int(ms or 0), image, sid))
    return out


def recent_plays(conn: Connection, member_id: int, limit: int = 20) -> list[TopEntry]:
    """The member's latest plays, newest first (plays = 1 each; `played_at` set)."""
    stmt = (
        select(plays.c.track_id, plays.c.played_at, _ms_played())
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.member_id == member_id)
        .order_by(plays.c.played_at.desc(), plays.c.id.desc())
        .limit(limit)
    )
    return _track_entries(conn, [(int(t), 1, int(ms or 0), at) for t, at, ms in conn.execute(stmt)])


def distinct_counts(conn: Connection, member_id: int) -> tuple[int, int]:
    """(distinct tracks, distinct primary artists) the member ever played."""
    n_tracks = conn.execute(
        select(func.count(func.distinct(plays.c.track_id))).where(plays.c.member_id == member_id)
    ).scalar_one()
    n_artists = conn.execute(
        select(func.count(func.distinct(track_artists.c.artist_id)))
        .select_from(
            plays.join(track_artists, (track_artists.c.track_id == plays.c.track_id) & (track_artists.c.position == 0))
        )
        .where(plays.c.member_id == member_id)
    ).scalar_one()
    return int(n_tracks), int(n_artists)


# --- what the member's own pages show beyond charts ---------------------------------------------


def member_gaps(conn: Connection, member_id: int, include_filled: bool = False) -> list[Gap]:
    stmt = select(sync_gaps).where(sync_gaps.c.member_id == member_id).order_by(sync_gaps.c.gap_start.desc())
    if not include_filled:
        stmt = stmt.where(sync_gaps.c.filled_at.is_(None))
    return [
        Gap(int(m["id"]), m["gap_start"], m["gap_end"], m["detected_at"], m["filled_at"])
        for m in (r._mapping for r in conn.execute(stmt))
    ]


def member_imports(conn: Connection, member_id: int, limit: int = 20) -> list[ImportRecord]:
    stmt = (
        select(imports)
        .where(imports.c.member_id == member_id)
        .order_by(imports.c.started_at.desc(), imports.c.id.desc())
        .limit(limit)
    )
    return [import_record(r) for r in conn.execute(stmt)]


def member_import(conn: Connection, member_id: int, import_id: int) -> ImportRecord | None:
    """One import, only when it belongs to *member_id*."""
    row = conn.execute(select(imports).where(imports.c.id == import_id, imports.c.member_id == member_id)).first()
    return import_record(row) if row else None


def play_span(conn: Connection, member_id: int, source: str | None = None) -> tuple[datetime | None, datetime | None]:
    stmt = select(func.min(plays.c.played_at), func.max(plays.c.played_at)).where(plays.c.member_id == member_id)
    if source is not None:
        stmt = stmt.where(plays.c.source == source)
    first, last = conn.execute(stmt).one()
    return first, last


def play_spans_by_source(conn: Connection, member_id: int) -> dict[str, tuple[datetime, datetime, int]]:
    """source -> (first play, last play, number of plays), in one pass over the member's plays."""
    stmt = (
        select(plays.c.source, func.min(plays.c.played_at), func.max(plays.c.played_at), func.count())
        .where(plays.c.member_id == member_id)
        .group_by(plays.c.source)
    )
    return {str(src): (lo, hi, int(n)) for src, lo, hi, n in conn.execute(stmt)}


def last_recent_poll(conn: Connection, member_id: int) -> datetime | None:
    """When recs last read the member's recently played list successfully (None: never)."""
    value: datetime | None = conn.execute(
        select(sync_cursors.c.last_success_at).where(
            sync_cursors.c.member_id == member_id, sync_cursors.c.stream == "recently_played"
        )
    ).scalar()
    return value


def token_expiry(conn: Connection, member_id: int) -> tuple[datetime | None, datetime | None]:
    """(authorised_at, refresh_expires_at) of the member's Spotify authorisation, or Nones when there is none."""
    row = conn.execute(
        select(tokens.c.authorised_at, tokens.c.refresh_expires_at).where(tokens.c.member_id == member_id)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def published_lists(conn: Connection, member_id: int) -> list[PublishedRow]:
    stmt = (
        select(
            published_playlists.c.kind,
            published_playlists.c.spotify_playlist_id,
            published_playlists.c.track_uris,
            published_playlists.c.written_at,
        )
        .where(published_playlists.c.member_id == member_id)
        .order_by(published_playlists.c.kind)
    )
    return [
        PublishedRow(str(k), pid, tuple(str(u) for u in (uris or []) if isinstance(u, str)), w)
        for k, pid, uris, w in conn.execute(stmt)
    ]


def played_track_uris_since(conn: Connection, member_id: int, uris: Sequence[str], since: datetime) -> set[str]:
    """Which of *uris* (spotify:track:…) the member played at or after *since*."""
    ids = [u.rsplit(":", 1)[-1] for u in uris if u.startswith("spotify:track:")]
    if not ids:
        return set()
    stmt = (
        select(func.distinct(tracks.c.spotify_id))
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(plays.c.member_id == member_id, plays.c.played_at >= since, tracks.c.spotify_id.in_(ids))
    )
    return {f"spotify:track:{r[0]}" for r in conn.execute(stmt)}


# --- the owner's view of the instance -----------------------------------------------------------


def sync_health(conn: Connection) -> list[SyncHealth]:
    """One row per member: last successful poll of recently played, its last error, open gaps, token expiry.

    Nothing of what they listened to: the consent page promises the owner sees only whether syncing works.
    """
    poll = {
        int(m): (s, e)
        for m, s, e in conn.execute(
            select(sync_cursors.c.member_id, sync_cursors.c.last_success_at, sync_cursors.c.last_error).where(
                sync_cursors.c.stream == "recently_played"
            )
        )
    }
    gaps: dict[int, int] = dict(
        conn.execute(
            select(sync_gaps.c.member_id, func.count())
            .where(sync_gaps.c.filled_at.is_(None))
            .group_by(sync_gaps.c.member_id)
        ).all()
    )
    expiry = dict(conn.execute(select(tokens.c.member_id, tokens.c.refresh_expires_at)).all())
    keeping = {
        int(m)
        for (m,) in conn.execute(
            select(consents.c.member_id).where(consents.c.purpose == "store", consents.c.granted.is_(True))
        )
    }
    library: dict[int, str] = {}
    for m, stream, err in conn.execute(
        select(sync_cursors.c.member_id, sync_cursors.c.stream, sync_cursors.c.last_error)
        .where(sync_cursors.c.stream != "recently_played", sync_cursors.c.last_error.is_not(None))
        .order_by(sync_cursors.c.stream)
    ):
        library.setdefault(int(m), f"{str(stream).replace('_', ' ')}: {err}")
    published: dict[int, datetime] = {
        int(m): w
        for m, w in conn.execute(
            select(published_playlists.c.member_id, func.max(published_playlists.c.written_at)).group_by(
                published_playlists.c.member_id
            )
        )
        if w is not None
    }
    failed: dict[int, tuple[datetime, str, str | None]] = {}
    for m, at, kind, detail in conn.execute(
        select(
            published_playlists.c.member_id,
            published_playlists.c.failed_at,
            published_playlists.c.failure,
            published_playlists.c.failure_detail,
        ).where(published_playlists.c.failed_at.is_not(None))
    ):
        if int(m) not in failed or at > failed[int(m)][0]:
            failed[int(m)] = (at, str(kind or "error"), detail)
    refused: dict[int, int] = {}
    for m, at in conn.execute(
        select(rejected_tracks.c.member_id, rejected_tracks.c.rejected_at).where(
            rejected_tracks.c.member_id.is_not(None)
        )
    ):
        last = published.get(int(m))
        if last is None or at >= last:
            refused[int(m)] = refused.get(int(m), 0) + 1
    out = []
    for r in conn.execute(select(members).order_by(members.c.id)):
        m = r._mapping
        mid = int(m["id"])
        last, err = poll.get(mid, (None, None))
        out.append(
            SyncHealth(
                member_id=mid,
                display_name=str(m["display_name"]),
                role=str(m["role"]),
                reconnect_needed=bool(m["reconnect_needed"]),
                not_allowlisted=bool(m["not_allowlisted"]),
                last_poll=last,
                last_error=err,
                open_gaps=int(gaps.get(mid, 0)),
                refresh_expires_at=expiry.get(mid),
                keeps_listening=mid in keeping,
                library_error=library.get(mid),
                refused_tracks=refused.get(mid, 0),
                last_published=published.get(mid),
                publish_failed_at=failed[mid][0] if mid in failed else None,
                publish_failure=failed[mid][1] if mid in failed else None,
                publish_failure_detail=failed[mid][2] if mid in failed else None,
            )
        )
    return out


def api_calls_since(conn: Connection, since: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(api_calls).where(api_calls.c.at >= since)).scalar_one())


def oldest_api_call_since(conn: Connection, since: datetime) -> datetime | None:
    value: datetime | None = conn.execute(select(func.min(api_calls.c.at)).where(api_calls.c.at >= since)).scalar_one()
    return value


def instance_values(conn: Connection) -> dict[str, Any]:
    return {str(k): v for k, v in conn.execute(select(instance_state.c.key, instance_state.c.value))}


def model_run_list(conn: Connection, limit: int = 30) -> list[ModelRunRow]:
    """The newest runs, returned oldest first (for charts over time)."""
    stmt = select(model_runs).order_by(model_runs.c.started_at.desc(), model_runs.c.id.desc()).limit(limit)
    rows = []
    for r in conn.execute(stmt):
        m = r._mapping
        rows.append(
            ModelRunRow(
                id=int(m["id"]),
                started_at=m["started_at"],
                finished_at=m["finished_at"],
                status=str(m["status"]),
                model_kind=m["model_kind"],
                metrics=m["metrics"] if isinstance(m["metrics"], dict) else {},
                baselines=m["baselines"] if isinstance(m["baselines"], dict) else {},
                data_size=m["data_size"] if isinstance(m["data_size"], dict) else {},
                is_current=bool(m["is_current"]),
                note=m["note"],
                prior=m["params"]["prior"]
                if isinstance(m["params"], dict) and isinstance(m["params"].get("prior"), dict)
                else None,
                chosen=str(m["params"]["chosen"])
                if isinstance(m["params"], dict) and m["params"].get("chosen") is not None
                else None,
            )
        )
    return rows[::-1]


def invite_list(conn: Connection, limit: int = 50) -> list[InviteOverview]:
    stmt = select(invites).order_by(invites.c.created_at.desc(), invites.c.id.desc()).limit(limit)
    rows = [r._mapping for r in conn.execute(stmt)]
    # Names, not ids: the members the invites were for (by Spotify account) and who used them.
    wanted = {m["spotify_id"] for m in rows if m["spotify_id"]}
    used = {m["used_by"] for m in rows if m["used_by"] is not None}
    by_account: dict[str, str] = {}
    by_id: dict[int, str] = {}
    if wanted or used:
        for mid, sid, name in conn.execute(
            select(members.c.id, members.c.spotify_id, members.c.display_name).where(
                or_(members.c.spotify_id.in_(sorted(wanted)), members.c.id.in_(sorted(used)))
            )
        ):
            label = str(name or sid)
            by_account[str(sid)] = label
            by_id[int(mid)] = label
    return [
        InviteOverview(
            int(m["id"]),
            m["spotify_id"],
            m["created_at"],
            m["expires_at"],
            m["used_by"],
            m["used_at"],
            for_name=by_account.get(m["spotify_id"]) if m["spotify_id"] else None,
            used_by_name=by_id.get(m["used_by"]) if m["used_by"] is not None else None,
        )
        for m in rows
    ]

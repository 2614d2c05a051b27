"""Import queries: import records, export plays deduplicated against API plays, library and playlist rows, gap filling."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from recs.core.domain import ImportProgress, ImportRecord, PlayRow, RunningImport, TrackInfo
from recs.core.names import normalise, track_key
from recs.storage.dialect import insert_ignore
from recs.storage.members import may_store, off_intervals
from recs.storage.schema import (
    artists,
    followed_artists,
    hidden_tracks,
    imports,
    liked_tracks,
    playlist_items,
    playlists,
    plays,
    saved_tracks,
    short_streams,
    sync_gaps,
    track_artists,
    tracks,
)


def create_import(conn: Connection, member_id: int, source_name: str, now: datetime, owner: str | None = None) -> int:
    """A 'running' record; *owner* is the process running it (host:pid)."""
    result = conn.execute(
        imports.insert().values(
            member_id=member_id,
            started_at=now,
            source_name=source_name[:500],
            status="running",
            progress_at=now,
            owner=owner,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def record_progress(
    conn: Connection, import_id: int, now: datetime, done: int | None = None, total: int | None = None
) -> None:
    """A running import's sign of life, with its rows written and to write when given."""
    values: dict[str, Any] = {"progress_at": now}
    if done is not None:
        values["rows_done"] = done
    if total is not None:
        values["rows_total"] = total
    conn.execute(update(imports).where(imports.c.id == import_id, imports.c.status == "running").values(**values))


def member_import_progress(conn: Connection, member_id: int, import_id: int) -> ImportProgress | None:
    """One import's progress, only when it belongs to *member_id*."""
    row = conn.execute(
        select(
            imports.c.id,
            imports.c.status,
            imports.c.started_at,
            imports.c.rows_done,
            imports.c.rows_total,
            imports.c.progress_at,
            imports.c.error,
        ).where(imports.c.id == import_id, imports.c.member_id == member_id)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return ImportProgress(
        id=m["id"],
        status=m["status"],
        started_at=m["started_at"],
        rows_done=m["rows_done"] or 0,
        rows_total=m["rows_total"],
        progress_at=m["progress_at"] or m["started_at"],
        error=m["error"],
    )


def finish_import(
    conn: Connection,
    import_id: int,
    status: str,
    now: datetime,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(status=status, finished_at=now, report=report, error=error)
    )


def import_record(row: Any) -> ImportRecord:
    """An imports table row as an ImportRecord."""
    m = row._mapping
    report = m["report"]
    return ImportRecord(
        id=int(m["id"]),
        member_id=int(m["member_id"]),
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        source_name=str(m["source_name"]),
        status=str(m["status"]),
        report=report if isinstance(report, dict) else None,
        error=m["error"],
    )


def get_import(conn: Connection, import_id: int) -> ImportRecord | None:
    row = conn.execute(select(imports).where(imports.c.id == import_id)).first()
    return import_record(row) if row else None


def list_imports(conn: Connection, member_id: int, limit: int = 50) -> list[ImportRecord]:
    """A member's imports, newest first."""
    stmt = select(imports).where(imports.c.member_id == member_id).order_by(imports.c.id.desc()).limit(limit)
    return [import_record(r) for r in conn.execute(stmt)]


# INSERT … SELECT … WHERE NOT EXISTS (an equivalent stored play), run once per row with executemany, so
# rows of one batch see each other and the result does not depend on file order or batch size. It is
# plain SQL for speed (150k rows through SQLAlchemy's per-row processing took seconds); the time
# expressions and {export_match} differ by dialect and by the precision of the rows.
#
# An equivalent play is of the same track, or of a track with the same name key: account data names
# a track, and when several tracks share that name the one chosen may not be the one the extended
# history or the API played. (Tracks without names share the key "|" and are never equal by name.)
_PLAYS_SQL = """
INSERT INTO plays (member_id, played_at, track_id, source, ms_played, context_uri, skipped,
                   reason_start, reason_end, shuffle, import_id, matched_by_name)
SELECT {member}, {t}, {track}, 'export', {ms}, {ctx}, {skipped}, {rs}, {re}, {shuffle}, {imp}, {by_name}
WHERE NOT EXISTS (
    SELECT 1 FROM plays p JOIN tracks k ON k.id = p.track_id
    WHERE p.member_id = {member}
      AND p.played_at BETWEEN {window_lo} AND {window_hi}
      AND (p.track_id = {track} OR k.name_key = (SELECT name_key FROM tracks WHERE id = {track} AND name_key <> '|'))
      AND ((p.source = 'api' AND p.played_at BETWEEN {api_lo} AND {api_hi})
           OR (p.source = 'export' AND {export_match}))
)
ON CONFLICT DO NOTHING
"""
# Account data's endTime is the extended ts cut to the minute (a stream ending 12:00:42 is "12:00").
# An account-data row is left out when its extended copy (within the minute from it) is stored; an
# extended row replaces a stored account-data copy (on the minute below), as it carries more: either
# order of import ends with the same rows.
_NEAR = "p.matched_by_name IS NOT TRUE AND p.played_at >= {t} AND p.played_at < {near_hi}"
_NO_MATCH = "1 = 0"
_DELETE_COPIES = """
DELETE FROM {table} WHERE member_id = {member} AND matched_by_name IS TRUE AND {time} = {minute_a}
  AND (track_id = {track}
       OR track_id IN (SELECT id FROM tracks
                       WHERE name_key = (SELECT name_key FROM tracks WHERE id = {track} AND name_key <> '|')))
"""
_PLAIN_SQL = """
INSERT INTO plays (member_id, played_at, track_id, source, ms_played, context_uri, skipped,
                   reason_start, reason_end, shuffle, import_id, matched_by_name)
VALUES ({member}, {t}, {track}, 'export', {ms}, {ctx}, {skipped}, {rs}, {re}, {shuffle}, {imp}, {by_name})
ON CONFLICT DO NOTHING
"""
_COLUMNS = ("member", "t", "track", "ms", "ctx", "skipped", "rs", "re", "shuffle", "imp", "by_name")


def _sqlite_shift(seconds: float) -> str:
    # strftime's %f gives milliseconds; three zeros more make SQLAlchemy's stored form (microseconds).
    return f"(strftime('%Y-%m-%d %H:%M:%f', :t, '{seconds:+.6f} seconds') || '000')"


def _dialect_parts(dialect: str) -> tuple[dict[str, str], Callable[[float], str], str]:
    """Placeholders for each parameter, a time-shift expression builder, and the minute-floor expression."""
    if dialect == "postgresql":
        names = {c: f"%({c})s" for c in _COLUMNS}
        names["t"] = "CAST(%(t)s AS TIMESTAMP WITH TIME ZONE)"
        for c in ("skipped", "shuffle", "by_name"):
            names[c] = f"CAST(%({c})s AS BOOLEAN)"
        for c in ("member", "track", "ms", "imp"):
            names[c] = f"CAST(%({c})s AS INTEGER)"
        for c in ("ctx", "rs", "re"):
            names[c] = f"CAST(%({c})s AS VARCHAR)"
        t = names["t"]

        def shift(seconds: float) -> str:
            return f"({t} + INTERVAL '{seconds:.6f} seconds')"

        return names, shift, f"date_trunc('minute', {t})"
    names = {c: f":{c}" for c in _COLUMNS}
    return names, _sqlite_shift, "strftime('%Y-%m-%d %H:%M:00.000000', :t)"


def _plays_sql(dialect: str, tolerance_s: int, minute_precision: bool, plain: bool) -> str:
    window = max(tolerance_s, 60)
    names, shift, minute_a = _dialect_parts(dialect)
    bounds = {
        "window_lo": shift(-window),
        "window_hi": shift(window),
        "api_lo": shift(-tolerance_s),
        "api_hi": shift(tolerance_s),
        "near_hi": shift(60),
        "minute_a": minute_a,
    }
    if plain:
        return _PLAIN_SQL.format(**names)
    match = (_NEAR if minute_precision else _NO_MATCH).format(**names, **bounds)
    return _PLAYS_SQL.format(**names, **bounds, export_match=match)


def _delete_copies(conn: Connection, table: str, member_id: int, rows: Sequence[tuple[datetime, int]]) -> None:
    """Delete the account-data copies (same name key, the minute below) of extended-history rows about to be stored."""
    names, _shift, minute_a = _dialect_parts(conn.dialect.name)
    time_column = "played_at" if table == "plays" else "ended_at"
    sql = _DELETE_COPIES.format(table=table, time=time_column, minute_a=minute_a, **names)
    params = [{"member": member_id, "t": db_time(conn, t), "track": track} for t, track in rows]
    for start in range(0, len(params), 1000):
        conn.exec_driver_sql(sql, params[start : start + 1000])  # type: ignore[arg-type]


def _may_have_copies(conn: Connection, member_id: int, rows: Sequence[PlayRow], tolerance_s: int) -> bool:
    """Whether an API play or an account-data play of the member lies near the rows' time span.

    Most of a long history predates polling and account data (a year at most), so most batches can
    skip the per-row check and rely on the natural key alone: the same result, at half the cost.
    """
    window = timedelta(seconds=max(tolerance_s, 60))
    lo = min(r.played_at for r in rows) - window
    hi = max(r.played_at for r in rows) + window
    stmt = (
        select(plays.c.id)
        .where(
            plays.c.member_id == member_id,
            plays.c.played_at.between(lo, hi),
            or_(plays.c.source == "api", plays.c.matched_by_name.is_(True)),
        )
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def db_time(conn: Connection, value: datetime) -> Any:
    """A UTC time as the driver is given it: SQLAlchemy's stored text on SQLite, the aware datetime elsewhere."""
    if conn.dialect.name == "postgresql":
        return value
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


def insert_export_plays(
    conn: Connection,
    member_id: int,
    rows: Sequence[PlayRow],
    *,
    tolerance_s: int,
    minute_precision: bool,
) -> None:
    """Store exported plays, leaving out any that is already stored as the same play.

    The same play: same member and track, and the same time (natural key), or an API play within
    *tolerance_s*, or the other export format's copy (account data, matched by name, keeps whole
    minutes; extended history keeps seconds). *minute_precision* marks account-data rows.
    Count what was added with `count_import_rows`. Nothing from a time the member had storing
    switched off is written, nor anything while it is off.
    """
    intervals = off_intervals(conn, member_id, "store")
    rows = [r for r in rows if may_store(intervals, r.played_at)]
    if not rows:
        return
    plain = not minute_precision and not _may_have_copies(conn, member_id, rows, tolerance_s)
    if not minute_precision and not plain:
        _delete_copies(conn, "plays", member_id, [(r.played_at, r.track_id) for r in rows])
    sql = _plays_sql(conn.dialect.name, tolerance_s, minute_precision, plain)
    params = [
        {
            "member": member_id,
            "t": db_time(conn, r.played_at),
            "track": r.track_id,
            "ms": r.ms_played,
            "ctx": r.context_uri,
            "skipped": r.skipped,
            "rs": r.reason_start,
            "re": r.reason_end,
            "shuffle": r.shuffle,
            "imp": r.import_id,
            "by_name": minute_precision or None,
        }
        for r in rows
    ]
    for start in range(0, len(params), 1000):
        conn.exec_driver_sql(sql, params[start : start + 1000])  # type: ignore[arg-type]


_SHORT_SQL = """
INSERT INTO short_streams (member_id, ended_at, track_id, ms_played, reason_end, import_id, matched_by_name)
SELECT {member}, {t}, {track}, {ms}, {re}, {imp}, {by_name}
WHERE NOT EXISTS (
    SELECT 1 FROM short_streams p JOIN tracks k ON k.id = p.track_id
    WHERE p.member_id = {member}
      AND p.ended_at BETWEEN {window_lo} AND {window_hi}
      AND (p.track_id = {track} OR k.name_key = (SELECT name_key FROM tracks WHERE id = {track} AND name_key <> '|'))
      AND {export_match}
)
ON CONFLICT DO NOTHING
"""
_SHORT_PLAIN_SQL = """
INSERT INTO short_streams (member_id, ended_at, track_id, ms_played, reason_end, import_id, matched_by_name)
VALUES ({member}, {t}, {track}, {ms}, {re}, {imp}, {by_name})
ON CONFLICT DO NOTHING
"""


def _short_sql(dialect: str, minute_precision: bool) -> str:
    names, shift, _minute = _dialect_parts(dialect)
    if not minute_precision:
        return _SHORT_PLAIN_SQL.format(**names)
    bounds = {"window_lo": shift(-60), "window_hi": shift(60), "near_hi": shift(60)}
    match = _NEAR.format(**names, **bounds).replace("p.played_at", "p.ended_at")
    return _SHORT_SQL.format(**names, **bounds, export_match=match)


def insert_export_short_streams(
    conn: Connection,
    member_id: int,
    rows: Sequence[tuple[datetime, int, int, str | None]],
    import_id: int | None,
    *,
    minute_precision: bool,
) -> None:
    """Store (ended_at, track_id, ms_played, reason_end) skip signals, leaving out one already stored.

    Already stored: the same member, track and time, or the other export format's copy of the stream
    (as for plays; *minute_precision* marks account-data rows). Consent is honoured as for plays.
    """
    intervals = off_intervals(conn, member_id, "store")
    rows = [r for r in rows if may_store(intervals, r[0])]
    if not rows:
        return
    if not minute_precision:
        lo = min(r[0] for r in rows) - timedelta(minutes=1)
        hi = max(r[0] for r in rows) + timedelta(minutes=1)
        near = select(short_streams.c.id).where(
            short_streams.c.member_id == member_id,
            short_streams.c.ended_at.between(lo, hi),
            short_streams.c.matched_by_name.is_(True),
        )
        if conn.execute(near.limit(1)).first() is not None:
            _delete_copies(conn, "short_streams", member_id, [(t, tid) for t, tid, _ms, _re in rows])
    sql = _short_sql(conn.dialect.name, minute_precision)
    params = [
        {
            "member": member_id,
            "t": db_time(conn, t),
            "track": tid,
            "ms": ms,
            "re": reason,
            "imp": import_id,
            "by_name": minute_precision or None,
        }
        for t, tid, ms, reason in rows
    ]
    for start in range(0, len(params), 1000):
        conn.exec_driver_sql(sql, params[start : start + 1000])  # type: ignore[arg-type]


def without_export_copies(conn: Connection, member_id: int, rows: Sequence[PlayRow], tolerance_s: int) -> list[PlayRow]:
    """API plays less those already stored from a data export (same track, within *tolerance_s*).

    The other direction of the import's dedupe, for the poller: an export can hold plays that the
    next poll of recently-played returns again with a played_at a few seconds apart.
    """
    tolerance = timedelta(seconds=tolerance_s)
    kept = []
    for r in rows:
        copy = conn.execute(
            select(plays.c.id)
            .where(
                plays.c.member_id == member_id,
                plays.c.track_id == r.track_id,
                plays.c.source == "export",
                plays.c.played_at.between(r.played_at - tolerance, r.played_at + tolerance),
            )
            .limit(1)
        ).first()
        if copy is None:
            kept.append(r)
    return kept


def running_imports(conn: Connection, member_id: int | None = None) -> list[RunningImport]:
    """Records still 'running' (of one member, or of everyone)."""
    stmt = select(
        imports.c.id,
        imports.c.member_id,
        imports.c.owner,
        func.coalesce(imports.c.progress_at, imports.c.started_at).label("last_sign"),
    ).where(imports.c.status == "running")
    if member_id is not None:
        stmt = stmt.where(imports.c.member_id == member_id)
    return [RunningImport(r.id, r.member_id, r.owner, r.last_sign) for r in conn.execute(stmt)]


def settle_interrupted_import(conn: Connection, import_id: int, now: datetime) -> bool:
    """Close a 'running' record whose process is gone as 'interrupted', with what it had written.

    Rows were written in committed batches, so what is stored stays (and is counted in the report);
    importing the same export again adds the rest and nothing twice. False if it was no longer running.
    """
    row = conn.execute(
        select(imports.c.rows_done, imports.c.rows_total).where(
            imports.c.id == import_id, imports.c.status == "running"
        )
    ).first()
    if row is None:
        return False
    n_plays, n_short = count_import_rows(conn, import_id)
    done, total = row.rows_done or 0, row.rows_total
    of = f" of {total:,}" if total else ""
    error = (
        f"interrupted: the process running the import stopped after {done:,}{of} rows; {n_plays:,} plays it "
        "added are kept, and importing the same export again adds the rest"
    )
    report = {"plays_imported": n_plays, "short_streams_imported": n_short, "rows_done": done, "rows_total": total}
    result = conn.execute(
        update(imports)
        .where(imports.c.id == import_id, imports.c.status == "running")
        .values(status="interrupted", finished_at=now, error=error, report=report)
    )
    return result.rowcount > 0


def count_import_rows(conn: Connection, import_id: int) -> tuple[int, int]:
    """(plays, short streams) stored by one import."""
    n_plays = conn.execute(select(func.count()).select_from(plays).where(plays.c.import_id == import_id)).scalar_one()
    n_short = conn.execute(
        select(func.count()).select_from(short_streams).where(short_streams.c.import_id == import_id)
    ).scalar_one()
    return int(n_plays), int(n_short)


def tracks_with_spotify_id(conn: Connection, track_ids: Iterable[int]) -> set[int]:
    """Those of *track_ids* that have a Spotify id (the rest are known by name only)."""
    ids = sorted(set(track_ids))
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        out.update(
            r[0]
            for r in conn.execute(select(tracks.c.id).where(tracks.c.id.in_(chunk), tracks.c.spotify_id.isnot(None)))
        )
    return out


def save_tracks(conn: Connection, member_id: int, track_ids: Iterable[int]) -> int:
    """Saved tracks from YourLibrary.json (no date in the export); returns how many were new."""
    rows = [
        {"member_id": member_id, "track_id": t, "added_at": None, "source": "export"} for t in sorted(set(track_ids))
    ]
    return insert_ignore(conn, saved_tracks, rows)


def follow_artists(conn: Connection, member_id: int, artist_ids: Iterable[int], now: datetime) -> int:
    rows = [
        {"member_id": member_id, "artist_id": a, "source": "export", "seen_at": now} for a in sorted(set(artist_ids))
    ]
    return insert_ignore(conn, followed_artists, rows)


def replace_export_playlist(
    conn: Connection,
    member_id: int,
    name: str,
    modified_at: datetime,
    items: Sequence[tuple[int, datetime | None]],
) -> bool:
    """Store an exported playlist (no id: keyed by member and name), replacing an older copy.

    A copy modified later than *modified_at* is kept (an older export imported after a newer one).
    Returns whether the playlist was written.
    """
    existing = conn.execute(
        select(playlists.c.id, playlists.c.updated_at).where(
            playlists.c.member_id == member_id,
            playlists.c.source == "export",
            playlists.c.name == name,
        )
    ).all()
    if any(updated > modified_at for _pid, updated in existing):
        return False
    if existing:
        conn.execute(delete(playlists).where(playlists.c.id.in_([pid for pid, _ in existing])))
    result = conn.execute(
        playlists.insert().values(
            member_id=member_id,
            spotify_id=None,
            name=name,
            owned=True,
            collaborative=False,
            source="export",
            updated_at=modified_at,
        )
    )
    playlist_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if items:
        conn.execute(
            playlist_items.insert(),
            [
                {"playlist_id": playlist_id, "position": pos, "track_id": tid, "added_at": added}
                for pos, (tid, added) in enumerate(items)
            ],
        )
    return True


def fill_gaps(conn: Connection, member_id: int, start: datetime, end: datetime, import_id: int, now: datetime) -> int:
    """Mark the member's open polling gaps that lie within [start, end] as filled by this import; returns how many."""
    result = conn.execute(
        update(sync_gaps)
        .where(
            sync_gaps.c.member_id == member_id,
            sync_gaps.c.filled_at.is_(None),
            sync_gaps.c.gap_start >= start,
            sync_gaps.c.gap_end <= end,
        )
        .values(filled_at=now, filled_by_import=import_id)
    )
    return max(result.rowcount, 0)


def canonical_tracks(conn: Connection, name_keys: Iterable[str]) -> dict[str, int]:
    """The track a name key stands for: among tracks with a Spotify id, the smallest id (so the choice does
    not depend on which arrived first); else the track known only by that name. Keys with no track are absent."""
    keys = sorted(set(name_keys))
    best: dict[str, tuple[int, str, int]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key, tid, sid in conn.execute(
            select(tracks.c.name_key, tracks.c.id, tracks.c.spotify_id).where(tracks.c.name_key.in_(chunk))
        ):
            rank = (0, sid, tid) if sid else (1, "", tid)
            if key not in best or rank < best[key]:
                best[key] = rank
    return {key: rank[2] for key, rank in best.items()}


def export_track_ids(conn: Connection, items: Iterable[TrackInfo]) -> dict[str, int]:
    """Spotify id -> row id for tracks of an export (id, title, album artist by name), creating new ones in bulk.

    Like catalog.upsert_tracks for tracks with an id, but a ten-year history brings tens of thousands
    of new tracks and artists at once: these are written with one statement per table, not per row.
    """
    by_id: dict[str, TrackInfo] = {}
    for t in items:
        if t.spotify_id:
            by_id.setdefault(t.spotify_id, t)
    ids = _ids_by_spotify_id(conn, list(by_id))
    missing = {sid: t for sid, t in by_id.items() if sid not in ids}
    if not missing:
        return ids
    artist_ids = _ensure_name_only_artists(conn, [t.primary_artist for t in missing.values() if t.primary_artist])
    _insert_ignore_fast(
        conn,
        "tracks",
        ("spotify_id", "name", "name_key", "duration_ms", "isrc", "explicit", "resolve_attempts"),
        [
            (sid, t.name, track_key(t.primary_artist, t.name), t.duration_ms, t.isrc, t.explicit, 0)
            for sid, t in missing.items()
        ],
    )
    created = _ids_by_spotify_id(conn, list(missing))
    _insert_ignore_fast(
        conn,
        "track_artists",
        ("track_id", "position", "artist_id"),
        [
            (created[sid], 0, artist_ids[normalise(t.primary_artist)])
            for sid, t in missing.items()
            if t.primary_artist and sid in created
        ],
    )
    ids.update(created)
    return ids


def _insert_ignore_fast(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING through the driver's executemany (no per-row SQLAlchemy processing)."""
    if not rows:
        return
    marks = ", ".join(["%s"] * len(columns)) if conn.dialect.name == "postgresql" else ", ".join(["?"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    for start in range(0, len(rows), 1000):
        conn.exec_driver_sql(sql, list(rows[start : start + 1000]))


def _ids_by_spotify_id(conn: Connection, spotify_ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    ordered = sorted(spotify_ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        out.update(
            {
                sid: tid
                for sid, tid in conn.execute(
                    select(tracks.c.spotify_id, tracks.c.id).where(tracks.c.spotify_id.in_(chunk))
                )
            }
        )
    return out


def _ensure_name_only_artists(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Name key -> id of artists known by name only, created in bulk where missing."""
    by_key = {normalise(n): n for n in names}
    found = _name_only_ids(conn, artists, list(by_key))
    new = [{"spotify_id": None, "name": name, "name_key": key} for key, name in by_key.items() if key not in found]
    if new:
        conn.execute(artists.insert(), new)
        found = _name_only_ids(conn, artists, list(by_key))
    return found


def name_track_ids(conn: Connection, by_key: Mapping[str, TrackInfo]) -> dict[str, int]:
    """Name key -> track id for tracks named by account data: the canonical track, else a new name-only one.

    New name-only tracks (and their name-only artists) are written in bulk: an account-data year can
    name thousands of tracks the instance has never seen.
    """
    ids = canonical_tracks(conn, by_key)
    missing = {key: t for key, t in by_key.items() if key not in ids}
    if not missing:
        return ids
    artist_ids = _ensure_name_only_artists(conn, [t.primary_artist for t in missing.values() if t.primary_artist])
    conn.execute(
        tracks.insert(),
        [
            {"spotify_id": None, "name": t.name, "name_key": key, "duration_ms": t.duration_ms, "resolve_attempts": 0}
            for key, t in missing.items()
        ],
    )
    created = _name_only_ids(conn, tracks, list(missing))
    links = [
        {"track_id": created[key], "position": 0, "artist_id": artist_ids[normalise(t.primary_artist)]}
        for key, t in missing.items()
        if t.primary_artist
    ]
    insert_ignore(conn, track_artists, links)
    ids.update(created)
    return ids


def _name_only_ids(conn: Connection, table: Any, keys: Sequence[str]) -> dict[str, int]:
    """Name key -> id of rows without a Spotify id (the lowest id, should two exist)."""
    out: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = sorted(keys[start : start + 500])
        for key, rid in conn.execute(
            select(table.c.name_key, func.min(table.c.id))
            .where(table.c.name_key.in_(chunk), table.c.spotify_id.is_(None))
            .group_by(table.c.name_key)
        ):
            out[key] = rid
    return out


def canonicalise_names(conn: Connection, name_keys: Iterable[str], tolerance_s: int) -> dict[int, int]:
    """Move name-matched rows of each name key onto its canonical track (see `canonical_tracks`).

    A track known only by name is folded into the canonical track with a Spotify id (its plays, short
    streams, saved, hidden and playlist rows move, then it is deleted); from other same-named tracks
    with an id only the rows matched by name move. Plays are deduplicated against the target's, so
    account data imported before or after extended history ends with the same rows.
    Returns moved-from track -> canonical track (for every track that had rows to move or was deleted).
    """
    keys = sorted(set(name_keys))
    moves: dict[int, int] = {}
    name_only: set[int] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        by_key: dict[str, list[tuple[int, str | None]]] = {}
        for key, tid, sid in conn.execute(
            select(tracks.c.name_key, tracks.c.id, tracks.c.spotify_id).where(tracks.c.name_key.in_(chunk))
        ):
            by_key.setdefault(key, []).append((tid, sid))
        for candidates in by_key.values():
            with_id = sorted((sid, tid) for tid, sid in candidates if sid)
            if not with_id or len(candidates) < 2:
                continue
            target = with_id[0][1]
            for tid, sid in candidates:
                if tid != target:
                    moves[tid] = target
                    if sid is None:
                        name_only.add(tid)
    if not moves:
        return {}
    moved_from = _apply_moves(conn, moves, name_only, tolerance_s)
    return {old: moves[old] for old in sorted(moved_from)}


def _apply_moves(conn: Connection, moves: Mapping[int, int], name_only: set[int], tolerance_s: int) -> set[int]:
    """Move name-matched rows from each key of *moves* to its value; fold and delete the *name_only* tracks."""
    moved_from: set[int] = set(name_only)
    olds = sorted(moves)
    for start in range(0, len(olds), 500):
        old_chunk = olds[start : start + 500]
        # Rows matched by name move from any same-named track; a name-only track's rows all are.
        play_filter = and_(plays.c.track_id.in_(old_chunk), plays.c.matched_by_name.is_(True))
        short_filter = and_(short_streams.c.track_id.in_(old_chunk), short_streams.c.matched_by_name.is_(True))
        moved = conn.execute(select(plays).where(play_filter)).all()
        moved_short = conn.execute(select(short_streams).where(short_filter)).all()
        conn.execute(delete(plays).where(play_filter))
        conn.execute(delete(short_streams).where(short_filter))
        by_member: dict[int, list[PlayRow]] = {}
        for row in moved:
            m = row._mapping
            moved_from.add(m["track_id"])
            by_member.setdefault(m["member_id"], []).append(
                PlayRow(
                    played_at=m["played_at"],
                    track_id=moves[m["track_id"]],
                    source=m["source"],
                    ms_played=m["ms_played"],
                    context_uri=m["context_uri"],
                    skipped=m["skipped"],
                    reason_start=m["reason_start"],
                    reason_end=m["reason_end"],
                    shuffle=m["shuffle"],
                    import_id=m["import_id"],
                )
            )
        for member_id, rows in by_member.items():
            rows.sort(key=lambda r: r.played_at)
            insert_export_plays(conn, member_id, rows, tolerance_s=tolerance_s, minute_precision=True)
        by_origin: dict[tuple[int, int | None], list[tuple[datetime, int, int, str | None]]] = {}
        for row in moved_short:
            m = row._mapping
            moved_from.add(m["track_id"])
            by_origin.setdefault((m["member_id"], m["import_id"]), []).append(
                (m["ended_at"], moves[m["track_id"]], m["ms_played"], m["reason_end"])
            )
        for (member_id, import_id), short_rows in by_origin.items():
            insert_export_short_streams(conn, member_id, short_rows, import_id, minute_precision=True)
    gone = sorted(name_only)
    for start in range(0, len(gone), 500):
        gone_chunk = gone[start : start + 500]
        for table in (saved_tracks, hidden_tracks, liked_tracks):
            rows_of_old = [
                dict(r._mapping) for r in conn.execute(select(table).where(table.c.track_id.in_(gone_chunk)))
            ]
            conn.execute(delete(table).where(table.c.track_id.in_(gone_chunk)))
            for values in rows_of_old:
                values["track_id"] = moves[values["track_id"]]
            insert_ignore(conn, table, rows_of_old)
        in_playlists = conn.execute(
            select(playlist_items.c.track_id).where(playlist_items.c.track_id.in_(gone_chunk)).distinct()
        ).scalars()
        for old in list(in_playlists):
            conn.execute(update(playlist_items).where(playlist_items.c.track_id == old).values(track_id=moves[old]))
        conn.execute(delete(tracks).where(tracks.c.id.in_(gone_chunk)))
    return moved_from


@dataclass(frozen=True)
class NameOnlyTrack:
    id: int
    artist: str
    title: str
    name_key: str
    plays: int
    attempts: int


def tracks_to_resolve(conn: Connection, limit: int, max_attempts: int) -> list[NameOnlyTrack]:
    """Tracks known only by name, most played first, that search has not failed on *max_attempts* times."""
    play_count = select(plays.c.track_id, func.count().label("n")).group_by(plays.c.track_id).subquery("play_count")
    stmt = (
        select(
            tracks.c.id,
            tracks.c.name,
            tracks.c.name_key,
            tracks.c.resolve_attempts,
            func.coalesce(play_count.c.n, 0).label("n"),
            artists.c.name,
        )
        .select_from(
            tracks.outerjoin(play_count, play_count.c.track_id == tracks.c.id)
            .outerjoin(track_artists, and_(track_artists.c.track_id == tracks.c.id, track_artists.c.position == 0))
            .outerjoin(artists, artists.c.id == track_artists.c.artist_id)
        )
        .where(tracks.c.spotify_id.is_(None), tracks.c.resolve_attempts < max_attempts)
        .order_by(func.coalesce(play_count.c.n, 0).desc(), tracks.c.resolve_attempts, tracks.c.id)
        .limit(limit)
    )
    return [
        NameOnlyTrack(id=tid, artist=artist or "", title=name, name_key=key, plays=n, attempts=attempts)
        for tid, name, key, attempts, n, artist in conn.execute(stmt)
    ]


def resolve_track(conn: Connection, name_only_id: int, found: TrackInfo, tolerance_s: int) -> int | None:
    """Give a name-only track its Spotify identity: fold it into *found* (created if new). Returns the track id.

    *found* must carry the same name key (search results for another song are refused by the caller);
    None when the name-only track is gone already (folded by an import since it was picked).
    """
    exists = conn.execute(select(tracks.c.id).where(tracks.c.id == name_only_id, tracks.c.spotify_id.is_(None))).first()
    if exists is None:
        return None
    target = export_track_ids(conn, [found])[found.spotify_id or ""]
    _apply_moves(conn, {name_only_id: target}, {name_only_id}, tolerance_s)
    return target


def count_failed_resolve(conn: Connection, track_id: int) -> None:
    conn.execute(update(tracks).where(tracks.c.id == track_id).values(resolve_attempts=tracks.c.resolve_attempts + 1))

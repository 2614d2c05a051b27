"""Sync queries: per-member cursors, gaps, library snapshots (saved, followed, top, playlists), the API ledger and instance state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from recs.core.domain import CursorRow, GapRow
from recs.storage.dialect import insert_ignore, upsert
from recs.storage.leases import give_back_lease, take_lease
from recs.storage.schema import (
    api_calls,
    followed_artists,
    instance_state,
    playlist_items,
    playlists,
    plays,
    saved_tracks,
    sync_cursors,
    sync_gaps,
    sync_leases,
    top_items,
    tracks,
)

# --- cursors ----------------------------------------------------------------------------------


def get_cursor(conn: Connection, member_id: int, stream: str) -> CursorRow | None:
    row = conn.execute(
        select(sync_cursors).where(sync_cursors.c.member_id == member_id, sync_cursors.c.stream == stream)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return CursorRow(
        member_id=m["member_id"],
        stream=m["stream"],
        cursor=m["cursor"],
        last_success_at=m["last_success_at"],
        last_attempt_at=m["last_attempt_at"],
        next_due_at=m["next_due_at"],
        last_error=m["last_error"],
    )


def list_cursors(conn: Connection, member_id: int) -> list[CursorRow]:
    rows = conn.execute(select(sync_cursors.c.stream).where(sync_cursors.c.member_id == member_id)).all()
    out = []
    for (stream,) in rows:
        c = get_cursor(conn, member_id, stream)
        if c is not None:
            out.append(c)
    return out


def save_cursor(
    conn: Connection,
    member_id: int,
    stream: str,
    *,
    now: datetime,
    cursor: str | None = None,
    keep_cursor: bool = False,
    success: bool,
    next_due_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Record an attempt on a stream: on success the cursor moves (unless *keep_cursor*) and the error clears."""
    existing = get_cursor(conn, member_id, stream)
    values: dict[str, Any] = {"last_attempt_at": now, "next_due_at": next_due_at}
    if success:
        values["last_success_at"] = now
        values["last_error"] = None
        if not keep_cursor:
            values["cursor"] = cursor
    else:
        values["last_error"] = (error or "error")[:2000]
    if existing is None:
        values.setdefault("cursor", None)
        conn.execute(sync_cursors.insert().values(member_id=member_id, stream=stream, **values))
    else:
        conn.execute(
            update(sync_cursors)
            .where(sync_cursors.c.member_id == member_id, sync_cursors.c.stream == stream)
            .values(**values)
        )


# --- the per-member sync lease ------------------------------------------------------------------


def acquire_sync_lease(
    conn: Connection,
    member_id: int,
    owner: str,
    until: datetime,
    now: datetime,
    owner_dead: Callable[[str], bool] = lambda _owner: False,
) -> bool:
    """Take (or extend) the lease to sync this member; False while another live worker's lease holds.

    A lease whose holder *owner_dead* says is gone (a killed worker on this host) is taken over at once.
    """
    insert_ignore(conn, sync_leases, [{"member_id": member_id, "owner": None, "until": None}])
    where = sync_leases.c.member_id == member_id
    if take_lease(
        conn, sync_leases, where, sync_leases.c.owner, sync_leases.c.until, owner=owner, until=until, now=now
    ):
        return True
    held = conn.execute(select(sync_leases.c.owner).where(where)).scalar_one_or_none()
    if held is None or not owner_dead(held):
        return False
    taken = conn.execute(update(sync_leases).where(where, sync_leases.c.owner == held).values(owner=owner, until=until))
    return taken.rowcount == 1


def release_sync_lease(conn: Connection, member_id: int, owner: str) -> None:
    give_back_lease(
        conn, sync_leases, sync_leases.c.member_id == member_id, sync_leases.c.owner, sync_leases.c.until, owner
    )


# --- gaps -------------------------------------------------------------------------------------


def add_gap(conn: Connection, member_id: int, start: datetime, end: datetime, now: datetime) -> int:
    result = conn.execute(sync_gaps.insert().values(member_id=member_id, gap_start=start, gap_end=end, detected_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_gaps(conn: Connection, member_id: int, *, open_only: bool = False) -> list[GapRow]:
    stmt = select(sync_gaps).where(sync_gaps.c.member_id == member_id)
    if open_only:
        stmt = stmt.where(sync_gaps.c.filled_at.is_(None))
    return [
        GapRow(r.id, r.member_id, r.gap_start, r.gap_end, r.detected_at, r.filled_at)
        for r in conn.execute(stmt.order_by(sync_gaps.c.gap_start))
    ]


# --- library ----------------------------------------------------------------------------------


def saved_added_at(conn: Connection, member_id: int, track_ids: Sequence[int]) -> dict[int, datetime | None]:
    """Known saved tracks among *track_ids* with their added_at."""
    if not track_ids:
        return {}
    rows = conn.execute(
        select(saved_tracks.c.track_id, saved_tracks.c.added_at).where(
            saved_tracks.c.member_id == member_id, saved_tracks.c.track_id.in_(sorted(set(track_ids)))
        )
    )
    return {r[0]: r[1] for r in rows}


def upsert_saved_tracks(conn: Connection, member_id: int, rows: Sequence[tuple[int, datetime]]) -> None:
    """(track_id, added_at) pairs; a re-saved track takes its newer added_at."""
    upsert(
        conn,
        saved_tracks,
        [{"member_id": member_id, "track_id": t, "added_at": a, "source": "api"} for t, a in rows],
        keys=["member_id", "track_id"],
        update=["added_at"],
    )


def delete_saved_tracks_except(conn: Connection, member_id: int, keep: Sequence[int]) -> int:
    """After a full re-read: forget API-saved tracks the member no longer saves."""
    stmt = delete(saved_tracks).where(saved_tracks.c.member_id == member_id, saved_tracks.c.source == "api")
    if keep:
        stmt = stmt.where(saved_tracks.c.track_id.not_in(sorted(set(keep))))
    return int(conn.execute(stmt).rowcount)


def count_saved_tracks(conn: Connection, member_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(saved_tracks).where(saved_tracks.c.member_id == member_id)
        ).scalar_one()
    )


def replace_followed_artists(conn: Connection, member_id: int, artist_ids: Sequence[int], now: datetime) -> None:
    """The member's API-followed artists become exactly *artist_ids*."""
    stmt = delete(followed_artists).where(followed_artists.c.member_id == member_id, followed_artists.c.source == "api")
    if artist_ids:
        stmt = stmt.where(followed_artists.c.artist_id.not_in(sorted(set(artist_ids))))
    conn.execute(stmt)
    upsert(
        conn,
        followed_artists,
        [{"member_id": member_id, "artist_id": a, "source": "api", "seen_at": now} for a in dict.fromkeys(artist_ids)],
        keys=["member_id", "artist_id"],
        update=["seen_at"],
    )


def add_top_items(
    conn: Connection,
    member_id: int,
    kind: str,
    time_range: str,
    taken_at: datetime,
    ids: Sequence[int],
) -> int:
    """One snapshot of a top list (rank from 1); track ids for kind 'tracks', artist ids for 'artists'."""
    column = "track_id" if kind == "tracks" else "artist_id"
    rows = [
        {"member_id": member_id, "kind": kind, "time_range": time_range, "taken_at": taken_at, "rank": r, column: i}
        for r, i in enumerate(ids, start=1)
    ]
    # Taken twice at the same moment (a forced re-run): the later read replaces the earlier one.
    conn.execute(
        delete(top_items).where(
            top_items.c.member_id == member_id,
            top_items.c.kind == kind,
            top_items.c.time_range == time_range,
            top_items.c.taken_at == taken_at,
        )
    )
    if rows:
        conn.execute(top_items.insert(), rows)
    return len(rows)


@dataclass(frozen=True)
class PlaylistRow:
    id: int
    spotify_id: str | None
    name: str
    snapshot_id: str | None


def get_playlists(conn: Connection, member_id: int) -> dict[str, PlaylistRow]:
    rows = conn.execute(
        select(playlists.c.id, playlists.c.spotify_id, playlists.c.name, playlists.c.snapshot_id).where(
            playlists.c.member_id == member_id, playlists.c.spotify_id.is_not(None)
        )
    )
    return {r.spotify_id: PlaylistRow(r.id, r.spotify_id, r.name, r.snapshot_id) for r in rows}


def save_playlist(
    conn: Connection,
    member_id: int,
    spotify_id: str,
    *,
    name: str,
    snapshot_id: str | None,
    owned: bool,
    collaborative: bool,
    items: Sequence[tuple[int, int, datetime | None]],
    now: datetime,
) -> int:
    """A playlist and its complete item list ((position, track_id, added_at)), replacing what was stored."""
    existing = conn.execute(
        select(playlists.c.id).where(playlists.c.member_id == member_id, playlists.c.spotify_id == spotify_id)
    ).scalar_one_or_none()
    values = {
        "name": name,
        "snapshot_id": snapshot_id,
        "owned": owned,
        "collaborative": collaborative,
        "updated_at": now,
    }
    if existing is None:
        result = conn.execute(
            playlists.insert().values(member_id=member_id, spotify_id=spotify_id, source="api", **values)
        )
        pid = int(result.inserted_primary_key[0])  # type: ignore[index]
    else:
        pid = int(existing)
        conn.execute(update(playlists).where(playlists.c.id == pid).values(**values))
        conn.execute(delete(playlist_items).where(playlist_items.c.playlist_id == pid))
    insert_ignore(
        conn,
        playlist_items,
        [{"playlist_id": pid, "position": p, "track_id": t, "added_at": a} for p, t, a in items],
    )
    return pid


def playlist_contents(conn: Connection, member_id: int) -> dict[str, tuple[str, list[str | None]]]:
    """Each synced playlist's name and its tracks' Spotify ids in position order (for checks and reports)."""
    rows = conn.execute(
        select(playlists.c.spotify_id, playlists.c.name, tracks.c.spotify_id.label("track"))
        .select_from(playlists.outerjoin(playlist_items, playlist_items.c.playlist_id == playlists.c.id))
        .outerjoin(tracks, tracks.c.id == playlist_items.c.track_id)
        .where(playlists.c.member_id == member_id, playlists.c.spotify_id.is_not(None))
        .order_by(playlists.c.spotify_id, playlist_items.c.position)
    )
    out: dict[str, tuple[str, list[str | None]]] = {}
    for r in rows:
        entry = out.setdefault(r.spotify_id, (r.name, []))
        if r.track is not None:
            entry[1].append(r.track)
    return out


def delete_playlists_except(conn: Connection, member_id: int, keep_spotify_ids: Sequence[str]) -> int:
    stmt = delete(playlists).where(
        playlists.c.member_id == member_id, playlists.c.source == "api", playlists.c.spotify_id.is_not(None)
    )
    if keep_spotify_ids:
        stmt = stmt.where(playlists.c.spotify_id.not_in(sorted(set(keep_spotify_ids))))
    return int(conn.execute(stmt).rowcount)


# --- API ledger and instance state ------------------------------------------------------------


def record_call(
    conn: Connection,
    *,
    at: datetime,
    member_id: int | None,
    purpose: str,
    method: str,
    endpoint: str,
    status: int | None,
    duration_ms: int | None,
) -> None:
    conn.execute(
        api_calls.insert().values(
            at=at,
            member_id=member_id,
            purpose=purpose[:32],
            method=method[:8],
            endpoint=endpoint[:200],
            status=status,
            duration_ms=duration_ms,
        )
    )


def count_calls(
    conn: Connection,
    since: datetime,
    *,
    purpose: str | None = None,
    member_id: int | None = None,
    exclude_purpose: str | None = None,
) -> int:
    stmt = select(func.count()).select_from(api_calls).where(api_calls.c.at >= since)
    if exclude_purpose is not None:
        stmt = stmt.where(api_calls.c.purpose != exclude_purpose)
    if purpose is not None:
        stmt = stmt.where(api_calls.c.purpose == purpose)
    if member_id is not None:
        stmt = stmt.where(api_calls.c.member_id == member_id)
    return int(conn.execute(stmt).scalar_one())


def list_calls(conn: Connection, since: datetime) -> list[tuple[datetime, int | None, str, str, int | None]]:
    """(at, member_id, purpose, endpoint, status) in time order."""
    rows = conn.execute(
        select(api_calls.c.at, api_calls.c.member_id, api_calls.c.purpose, api_calls.c.endpoint, api_calls.c.status)
        .where(api_calls.c.at >= since)
        .order_by(api_calls.c.id)
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def get_state(conn: Connection, key: str) -> Any:
    return conn.execute(select(instance_state.c.value).where(instance_state.c.key == key)).scalar_one_or_none()


def set_state(conn: Connection, key: str, value: Any, now: datetime) -> None:
    upsert(
        conn,
        instance_state,
        [{"key": key, "value": value, "updated_at": now}],
        keys=["key"],
        update=["value", "updated_at"],
    )


def count_plays_since(conn: Connection, member_id: int, since: datetime) -> int:
    """Plays of a member at or after *since* (the recent listening rate for adaptive polling)."""
    return int(
        conn.execute(
            select(func.count()).select_from(plays).where(plays.c.member_id == member_id, plays.c.played_at >= since)
        ).scalar_one()
    )


def play_keys(conn: Connection, member_id: int, source: str | None = None) -> list[tuple[datetime, str | None]]:
    """(played_at, track Spotify id) of every stored play of a member, duplicates kept, in time order."""
    stmt = (
        select(plays.c.played_at, tracks.c.spotify_id)
        .join(tracks, tracks.c.id == plays.c.track_id)
        .where(plays.c.member_id == member_id)
        .order_by(plays.c.played_at)
    )
    if source is not None:
        stmt = stmt.where(plays.c.source == source)
    return [(r[0], r[1]) for r in conn.execute(stmt)]


def due_times(conn: Connection, member_ids: Sequence[int]) -> dict[int, dict[str, datetime | None]]:
    """member -> stream -> next_due_at, for every stream that has a cursor row (one query)."""
    out: dict[int, dict[str, datetime | None]] = {m: {} for m in member_ids}
    if not member_ids:
        return out
    rows = conn.execute(
        select(sync_cursors.c.member_id, sync_cursors.c.stream, sync_cursors.c.next_due_at).where(
            sync_cursors.c.member_id.in_(sorted(set(member_ids)))
        )
    )
    for member_id, stream, due in rows:
        out[member_id][stream] = due
    return out

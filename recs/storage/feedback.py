"""Feedback queries: one member's hidden tracks, blocked artists, excluded contexts, playlist settings and job requests.

The one home of "hidden, or by an artist blocked today": `blocked_on(today)` (the rule), `member_filters`
(one member's filters for a day) and `hidden_or_blocked_pairs` (the same, as (member, track) pairs, for
training's read of many members).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Connection, delete, func, or_, select

from recs.core.domain import (
    BlockedArtist,
    ContextChoice,
    ExcludedContext,
    JobRequestStatus,
    MemberFilters,
    PublishSettingsRow,
)
from recs.storage.dialect import insert_ignore, upsert
from recs.storage.schema import (
    artists,
    blocked_artists,
    excluded_contexts,
    hidden_tracks,
    job_requests,
    liked_tracks,
    playlists,
    plays,
    publish_settings,
    recommendations,
    track_artists,
)


def track_known_to(conn: Connection, member_id: int, track_id: int) -> bool:
    """Whether the track is on one of the member's lists or in their plays (ids of others' music stay unknown)."""
    in_recs = select(recommendations.c.track_id).where(
        recommendations.c.member_id == member_id, recommendations.c.track_id == track_id
    )
    in_plays = select(plays.c.track_id).where(plays.c.member_id == member_id, plays.c.track_id == track_id)
    return conn.execute(in_recs.limit(1)).first() is not None or conn.execute(in_plays.limit(1)).first() is not None


def artist_known_to(conn: Connection, member_id: int, artist_id: int) -> str | None:
    """The artist's name when they are credited on a track known to the member, else None."""
    credited = select(track_artists.c.track_id).where(track_artists.c.artist_id == artist_id)
    in_recs = select(recommendations.c.track_id).where(
        recommendations.c.member_id == member_id, recommendations.c.track_id.in_(credited)
    )
    in_plays = select(plays.c.track_id).where(plays.c.member_id == member_id, plays.c.track_id.in_(credited))
    if conn.execute(in_recs.limit(1)).first() is None and conn.execute(in_plays.limit(1)).first() is None:
        return None
    row = conn.execute(select(artists.c.name).where(artists.c.id == artist_id)).first()
    return str(row[0]) if row else None


def hide_track(conn: Connection, member_id: int, track_id: int, now: datetime) -> bool:
    """Hide a track from this member's lists; returns False when it was already hidden."""
    added = insert_ignore(conn, hidden_tracks, [{"member_id": member_id, "track_id": track_id, "created_at": now}])
    return added > 0


def unhide_track(conn: Connection, member_id: int, track_id: int) -> bool:
    result = conn.execute(
        delete(hidden_tracks).where(hidden_tracks.c.member_id == member_id, hidden_tracks.c.track_id == track_id)
    )
    return result.rowcount > 0


def hidden_track_ids(conn: Connection, member_id: int) -> list[int]:
    stmt = (
        select(hidden_tracks.c.track_id)
        .where(hidden_tracks.c.member_id == member_id)
        .order_by(hidden_tracks.c.created_at.desc(), hidden_tracks.c.track_id)
    )
    return [int(r[0]) for r in conn.execute(stmt)]


def like_track(conn: Connection, member_id: int, track_id: int, now: datetime) -> bool:
    """Mark a track "more like this" for this member; returns False when it was marked already."""
    added = insert_ignore(conn, liked_tracks, [{"member_id": member_id, "track_id": track_id, "created_at": now}])
    return added > 0


def unlike_track(conn: Connection, member_id: int, track_id: int) -> bool:
    result = conn.execute(
        delete(liked_tracks).where(liked_tracks.c.member_id == member_id, liked_tracks.c.track_id == track_id)
    )
    return result.rowcount > 0


def liked_track_ids(conn: Connection, member_id: int, among: Sequence[int] | None = None) -> set[int]:
    """The member's "more like this" tracks (only those of *among* when given)."""
    stmt = select(liked_tracks.c.track_id).where(liked_tracks.c.member_id == member_id)
    if among is not None:
        stmt = stmt.where(liked_tracks.c.track_id.in_(sorted(set(among))))
    return {int(r[0]) for r in conn.execute(stmt)}


def blocked_on(today: date) -> ColumnElement[bool]:
    """A block is in force on *today*: it has no end date, or it ends today or later."""
    return or_(blocked_artists.c.until.is_(None), blocked_artists.c.until >= today)


def member_filters(conn: Connection, member_id: int, today: date) -> MemberFilters:
    """What the member keeps out of their lists on *today*: hidden tracks and artists blocked that day."""
    hidden = conn.execute(select(hidden_tracks.c.track_id).where(hidden_tracks.c.member_id == member_id))
    blocked = conn.execute(
        select(blocked_artists.c.artist_id).where(blocked_artists.c.member_id == member_id, blocked_on(today))
    )
    return MemberFilters(frozenset(int(r[0]) for r in hidden), frozenset(int(r[0]) for r in blocked))


def list_filters(conn: Connection, member_id: int, mode: str, today: date, track_ids: Sequence[int]) -> MemberFilters:
    """The member's filters for a stored list of *mode* on *today*: for "discover", with those of *track_ids*
    they have played since (a discover list holds only tracks new to them)."""
    filters = member_filters(conn, member_id, today)
    if mode != "discover":
        return filters
    played: set[int] = set()
    ids = list(track_ids)
    for start in range(0, len(ids), 500):
        played.update(
            int(r[0])
            for r in conn.execute(
                select(plays.c.track_id)
                .where(plays.c.member_id == member_id, plays.c.track_id.in_(ids[start : start + 500]))
                .distinct()
            )
        )
    return MemberFilters(filters.hidden, filters.blocked_artists, frozenset(played))


def hidden_or_blocked_pairs(
    today: date, members: Callable[[Any], ColumnElement[bool]]
) -> CompoundSelect[tuple[int, int]]:
    """(member id, track id) of every track a member hid or whose credited artist they block on *today*.

    *members* restricts a member-id column to the members wanted.
    """
    hidden = select(hidden_tracks.c.member_id, hidden_tracks.c.track_id).where(members(hidden_tracks.c.member_id))
    blocked = (
        select(blocked_artists.c.member_id, track_artists.c.track_id)
        .join(track_artists, track_artists.c.artist_id == blocked_artists.c.artist_id)
        .where(members(blocked_artists.c.member_id), blocked_on(today))
    )
    return hidden.union(blocked)


def block_artist(conn: Connection, member_id: int, artist_id: int, until: date | None, now: datetime) -> None:
    """Block an artist (again: the new end date replaces the old one)."""
    upsert(
        conn,
        blocked_artists,
        [{"member_id": member_id, "artist_id": artist_id, "until": until, "created_at": now}],
        keys=("member_id", "artist_id"),
        update=("until", "created_at"),
    )


def unblock_artist(conn: Connection, member_id: int, artist_id: int) -> bool:
    result = conn.execute(
        delete(blocked_artists).where(
            blocked_artists.c.member_id == member_id, blocked_artists.c.artist_id == artist_id
        )
    )
    return result.rowcount > 0


def blocked_artist_list(conn: Connection, member_id: int, today: date | None = None) -> list[BlockedArtist]:
    """This member's blocks; with *today*, only those still in force (no end date, or ending today or later)."""
    stmt = (
        select(blocked_artists.c.artist_id, artists.c.name, blocked_artists.c.until, blocked_artists.c.created_at)
        .join(artists, artists.c.id == blocked_artists.c.artist_id)
        .where(blocked_artists.c.member_id == member_id)
        .order_by(artists.c.name, blocked_artists.c.artist_id)
    )
    if today is not None:
        stmt = stmt.where(blocked_on(today))
    return [BlockedArtist(int(a), str(n), u, c) for a, n, u, c in conn.execute(stmt)]


def add_excluded_context(conn: Connection, member_id: int, context_uri: str, label: str, now: datetime) -> bool:
    added = insert_ignore(
        conn,
        excluded_contexts,
        [{"member_id": member_id, "context_uri": context_uri, "label": label, "created_at": now}],
    )
    return added > 0


def remove_excluded_context(conn: Connection, member_id: int, context_uri: str) -> bool:
    result = conn.execute(
        delete(excluded_contexts).where(
            excluded_contexts.c.member_id == member_id, excluded_contexts.c.context_uri == context_uri
        )
    )
    return result.rowcount > 0


def excluded_context_list(conn: Connection, member_id: int) -> list[ExcludedContext]:
    stmt = (
        select(excluded_contexts.c.context_uri, excluded_contexts.c.label, excluded_contexts.c.created_at)
        .where(excluded_contexts.c.member_id == member_id)
        .order_by(excluded_contexts.c.created_at, excluded_contexts.c.context_uri)
    )
    return [ExcludedContext(str(u), str(lbl or ""), c) for u, lbl, c in conn.execute(stmt)]


def context_choices(conn: Connection, member_id: int, limit: int = 20) -> list[ContextChoice]:
    """The member's own playlists and the contexts they played from most, named where we know the name."""
    names: dict[str, str] = {}
    for sid, name in conn.execute(
        select(playlists.c.spotify_id, playlists.c.name).where(
            playlists.c.member_id == member_id, playlists.c.spotify_id.is_not(None)
        )
    ):
        names[f"spotify:playlist:{sid}"] = str(name)
    counts: dict[str, int] = {}
    stmt = (
        select(plays.c.context_uri, func.count())
        .where(
            plays.c.member_id == member_id,
            plays.c.context_uri.is_not(None),
            or_(plays.c.context_uri.like("spotify:playlist:%"), plays.c.context_uri.like("spotify:album:%")),
        )
        .group_by(plays.c.context_uri)
        .order_by(func.count().desc(), plays.c.context_uri)
        .limit(limit)
    )
    for uri, n in conn.execute(stmt):
        counts[str(uri)] = int(n)
    uris = list(counts) + [u for u in sorted(names) if u not in counts]
    return [ContextChoice(u, names.get(u, ""), counts.get(u, 0)) for u in uris[:limit]]


def playlist_name(conn: Connection, member_id: int, spotify_id: str) -> str | None:
    row = conn.execute(
        select(playlists.c.name).where(playlists.c.member_id == member_id, playlists.c.spotify_id == spotify_id)
    ).first()
    return str(row[0]) if row else None


def get_publish_settings(conn: Connection, member_id: int) -> PublishSettingsRow | None:
    row = conn.execute(select(publish_settings).where(publish_settings.c.member_id == member_id)).first()
    if row is None:
        return None
    m = row._mapping
    return PublishSettingsRow(
        size=int(m["size"]),
        discover=bool(m["discover"]),
        rediscover=bool(m["rediscover"]),
        frequency=str(m["frequency"]),
        weekday=int(m["weekday"]),
        local_time=str(m["local_time"]),
    )


def save_publish_settings(conn: Connection, member_id: int, values: PublishSettingsRow) -> None:
    row = {
        "member_id": member_id,
        "size": values.size,
        "discover": values.discover,
        "rediscover": values.rediscover,
        "frequency": values.frequency,
        "weekday": values.weekday,
        "local_time": values.local_time,
    }
    upsert(conn, publish_settings, [row], keys=("member_id",), update=[k for k in row if k != "member_id"])


def _job_request(row: object) -> JobRequestStatus:
    m = row._mapping  # type: ignore[attr-defined]
    return JobRequestStatus(
        id=int(m["id"]),
        job=str(m["job"]),
        member_id=m["member_id"],
        requested_by=m["requested_by"],
        requested_at=m["requested_at"],
        taken_at=m["taken_at"],
        finished_at=m["finished_at"],
        status=str(m["status"]),
    )


def queue_job_request(
    conn: Connection, job: str, member_id: int | None, requested_by: int | None, now: datetime
) -> tuple[JobRequestStatus, bool]:
    """Queue a "run now" request; one still waiting for the same job and member is returned instead (no duplicate).

    Returns the request and whether it was newly queued.
    """
    member_cond = job_requests.c.member_id.is_(None) if member_id is None else job_requests.c.member_id == member_id
    waiting = conn.execute(
        select(job_requests)
        .where(job_requests.c.job == job, member_cond, job_requests.c.status == "queued")
        .order_by(job_requests.c.id)
    ).first()
    if waiting is not None:
        return _job_request(waiting), False
    result = conn.execute(
        job_requests.insert().values(
            job=job, member_id=member_id, requested_by=requested_by, requested_at=now, status="queued"
        )
    )
    new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    row = conn.execute(select(job_requests).where(job_requests.c.id == new_id)).one()
    return _job_request(row), True


def job_request_list(conn: Connection, member_id: int | None = None, limit: int = 50) -> list[JobRequestStatus]:
    """Newest first; with *member_id*, only requests for or by that member."""
    stmt = select(job_requests).order_by(job_requests.c.requested_at.desc(), job_requests.c.id.desc()).limit(limit)
    if member_id is not None:
        stmt = stmt.where(or_(job_requests.c.member_id == member_id, job_requests.c.requested_by == member_id))
    return [_job_request(r) for r in conn.execute(stmt)]

"""Publishing queries: what to publish (current recommendations with filters' inputs), playlist state, the publish log and acceptance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from recs.core.domain import Rejection
from recs.storage.dialect import insert_ignore, upsert
from recs.storage.schema import (
    instance_state,
    members,
    model_runs,
    plays,
    publish_log,
    published_playlists,
    recommendations,
    rejected_tracks,
    saved_tracks,
    track_artists,
    track_checks,
    tracks,
)


@dataclass(frozen=True)
class RankedTrack:
    """A track of a stored list with what publishing needs: its Spotify id and credited artists."""

    rank: int
    track_id: int
    spotify_id: str | None
    artist_ids: tuple[int, ...]
    score: float | None
    source: str | None = None  # 'open' for a track from the community prior that no member played


@dataclass(frozen=True)
class PlaylistState:
    spotify_playlist_id: str | None
    content_hash: str | None
    pending_hash: str | None
    written_at: datetime | None
    run_id: int | None
    # The last failed publish (cleared by the next write): when, its kind (recs.core.publish_failures), detail.
    failed_at: datetime | None = None
    failure: str | None = None
    failure_detail: str | None = None


def current_run_id(conn: Connection) -> int | None:
    row = conn.execute(
        select(model_runs.c.id).where(model_runs.c.is_current.is_(True)).order_by(model_runs.c.id.desc()).limit(1)
    ).first()
    return int(row[0]) if row else None


def candidates(conn: Connection, run_id: int, member_id: int, mode: str) -> list[RankedTrack]:
    """The run's ranked list for a member, with what the publish filters need."""
    rows = conn.execute(
        select(
            recommendations.c.rank,
            recommendations.c.track_id,
            tracks.c.spotify_id,
            recommendations.c.score,
            recommendations.c.source,
        )
        .join(tracks, tracks.c.id == recommendations.c.track_id)
        .where(
            recommendations.c.run_id == run_id,
            recommendations.c.member_id == member_id,
            recommendations.c.mode == mode,
        )
        .order_by(recommendations.c.rank)
    ).all()
    ids = [r[1] for r in rows]
    artists: dict[int, list[tuple[int, int]]] = {}
    for start in range(0, len(ids), 500):
        for tid, pos, aid in conn.execute(
            select(track_artists.c.track_id, track_artists.c.position, track_artists.c.artist_id).where(
                track_artists.c.track_id.in_(ids[start : start + 500])
            )
        ):
            artists.setdefault(tid, []).append((pos, aid))
    return [
        RankedTrack(rank, tid, sid, tuple(a for _, a in sorted(artists.get(tid, []))), score, source)
        for rank, tid, sid, score, source in rows
    ]


def checked_tracks(conn: Connection, track_ids: Iterable[int]) -> dict[int, bool]:
    """Track id -> whether its playability check found it playable, for the tracks already checked."""
    ids = sorted(set(track_ids))
    out: dict[int, bool] = {}
    for start in range(0, len(ids), 500):
        stmt = select(track_checks.c.track_id, track_checks.c.playable).where(
            track_checks.c.track_id.in_(ids[start : start + 500])
        )
        out.update({int(tid): bool(ok) for tid, ok in conn.execute(stmt)})
    return out


def record_track_check(
    conn: Connection, track_id: int, playable: bool, reason: str | None, member_id: int | None, now: datetime
) -> bool:
    """Remember a track's check (the first one is kept); returns whether this one was stored."""
    row = {
        "track_id": track_id,
        "playable": playable,
        "reason": reason[:200] if reason else None,
        "member_id": member_id,
        "checked_at": now,
    }
    return insert_ignore(conn, track_checks, [row]) == 1


def rejected_track_ids(conn: Connection) -> set[int]:
    """Tracks Spotify refused in an earlier playlist write: left out of every playlist."""
    return {r[0] for r in conn.execute(select(rejected_tracks.c.track_id))}


def record_rejected(
    conn: Connection, spotify_ids: list[str], member_id: int, kind: str, reason: str, now: datetime
) -> int:
    """Remember tracks Spotify refused (the first refusal of each is kept); returns how many were new."""
    ids = conn.execute(select(tracks.c.id).where(tracks.c.spotify_id.in_(spotify_ids))).scalars().all()
    rows = [
        {"track_id": tid, "member_id": member_id, "kind": kind, "reason": reason[:1000], "rejected_at": now}
        for tid in ids
    ]
    return insert_ignore(conn, rejected_tracks, rows)


def recent_rejections(conn: Connection, limit: int = 20) -> list[Rejection]:
    """The latest tracks Spotify refused, newest first, for the admin page."""
    rows = conn.execute(
        select(
            tracks.c.spotify_id,
            tracks.c.name,
            members.c.display_name,
            rejected_tracks.c.kind,
            rejected_tracks.c.reason,
            rejected_tracks.c.rejected_at,
        )
        .join(tracks, tracks.c.id == rejected_tracks.c.track_id)
        .outerjoin(members, members.c.id == rejected_tracks.c.member_id)
        .order_by(rejected_tracks.c.rejected_at.desc(), rejected_tracks.c.track_id)
        .limit(limit)
    )
    return [Rejection(*r) for r in rows]


def refused_since(conn: Connection, member_id: int, kind: str, since: datetime | None) -> int:
    """How many tracks Spotify refused in the member's playlist of this kind at or after *since*."""
    query = select(func.count()).where(rejected_tracks.c.member_id == member_id, rejected_tracks.c.kind == kind)
    if since is not None:
        query = query.where(rejected_tracks.c.rejected_at >= since)
    return int(conn.execute(query).scalar_one())


def get_playlist_state(conn: Connection, member_id: int, kind: str) -> PlaylistState:
    row = conn.execute(
        select(published_playlists).where(
            published_playlists.c.member_id == member_id, published_playlists.c.kind == kind
        )
    ).first()
    if row is None:
        return PlaylistState(None, None, None, None, None)
    m = row._mapping
    return PlaylistState(
        m["spotify_playlist_id"],
        m["content_hash"],
        m["pending_hash"],
        m["written_at"],
        m["run_id"],
        m["failed_at"],
        m["failure"],
        m["failure_detail"],
    )


def save_playlist_state(conn: Connection, member_id: int, kind: str, **values: Any) -> None:
    """Create or update the member's row for this playlist kind with the given columns."""
    allowed = {
        "spotify_playlist_id",
        "run_id",
        "content_hash",
        "track_uris",
        "written_at",
        "pending_hash",
        "failed_at",
        "failure",
        "failure_detail",
    }
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown published_playlists columns: {sorted(unknown)}")
    exists = conn.execute(
        select(published_playlists.c.member_id).where(
            published_playlists.c.member_id == member_id, published_playlists.c.kind == kind
        )
    ).first()
    if exists:
        conn.execute(
            update(published_playlists)
            .where(published_playlists.c.member_id == member_id, published_playlists.c.kind == kind)
            .values(**values)
        )
    else:
        upsert(
            conn,
            published_playlists,
            [{"member_id": member_id, "kind": kind, **values}],
            ["member_id", "kind"],
            list(values),
        )


def instance_tag(conn: Connection, candidate: str, now: datetime) -> str:
    """This instance's tag for marking its playlists: *candidate* on first use, the stored one ever after."""
    upsert(conn, instance_state, [{"key": "playlist_tag", "value": candidate, "updated_at": now}], ["key"], [])
    return str(conn.execute(select(instance_state.c.value).where(instance_state.c.key == "playlist_tag")).scalar_one())


def log_publish(
    conn: Connection,
    member_id: int,
    kind: str,
    run_id: int | None,
    playlist_id: str,
    written_at: datetime,
    uris: list[str],
) -> None:
    conn.execute(
        publish_log.insert().values(
            member_id=member_id,
            kind=kind,
            run_id=run_id,
            spotify_playlist_id=playlist_id,
            written_at=written_at,
            track_uris=uris,
        )
    )


@dataclass(frozen=True)
class PublishOutcome:
    """One written playlist and what its member did with it since: tracks played, saved and skipped."""

    kind: str
    run_id: int | None
    written_at: datetime
    tracks: int
    played: int
    saved: int
    skipped: int


def acceptance(conn: Connection, member_id: int, limit: int = 10) -> list[PublishOutcome]:
    """For the member's latest playlist writes: how many of the tracks they played from it, saved, and skipped."""
    logs = conn.execute(
        select(publish_log)
        .where(publish_log.c.member_id == member_id)
        .order_by(publish_log.c.written_at.desc(), publish_log.c.id.desc())
        .limit(limit)
    ).all()
    out: list[PublishOutcome] = []
    next_written: dict[str, datetime] = {}
    for row in logs:  # newest first: each write's window ends where the next write of that kind began
        m = row._mapping
        start: datetime = m["written_at"]
        end = next_written.get(m["kind"])
        next_written[m["kind"]] = start
        uris: list[str] = list(m["track_uris"] or [])
        ids = [u.rsplit(":", 1)[-1] for u in uris]
        context = f"spotify:playlist:{m['spotify_playlist_id']}"
        window = [plays.c.played_at >= start] + ([plays.c.played_at < end] if end else [])
        base = (
            select(plays.c.track_id)
            .join(tracks, tracks.c.id == plays.c.track_id)
            .where(
                plays.c.member_id == member_id, plays.c.context_uri == context, tracks.c.spotify_id.in_(ids), *window
            )
        )
        played = conn.execute(select(func.count()).select_from(base.distinct().subquery())).scalar_one()
        skipped = conn.execute(
            select(func.count()).select_from(
                base.where(or_(plays.c.skipped.is_(True), plays.c.reason_end == "fwdbtn")).distinct().subquery()
            )
        ).scalar_one()
        saved_window = [saved_tracks.c.added_at >= start] + ([saved_tracks.c.added_at < end] if end else [])
        saved = conn.execute(
            select(func.count())
            .select_from(saved_tracks.join(tracks, tracks.c.id == saved_tracks.c.track_id))
            .where(and_(saved_tracks.c.member_id == member_id, tracks.c.spotify_id.in_(ids), *saved_window))
        ).scalar_one()
        out.append(PublishOutcome(m["kind"], m["run_id"], start, len(uris), int(played), int(saved), int(skipped)))
    return out

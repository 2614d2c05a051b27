"""Listening queries: plays and short streams, inserted idempotently on their natural keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from recs.core.domain import PlayRow
from recs.storage.dialect import insert_ignore
from recs.storage.members import may_store, off_intervals
from recs.storage.schema import plays, short_streams


def insert_plays(conn: Connection, member_id: int, rows: Sequence[PlayRow]) -> int:
    """Store plays; one already stored (same member, played_at, track), or one from a time the member had
    storing switched off, is left out. Returns rows added."""
    intervals = off_intervals(conn, member_id, "store")
    rows = [r for r in rows if may_store(intervals, r.played_at)]
    return insert_ignore(
        conn,
        plays,
        [
            {
                "member_id": member_id,
                "played_at": r.played_at,
                "track_id": r.track_id,
                "source": r.source,
                "ms_played": r.ms_played,
                "context_uri": r.context_uri,
                "skipped": r.skipped,
                "reason_start": r.reason_start,
                "reason_end": r.reason_end,
                "shuffle": r.shuffle,
                "import_id": r.import_id,
            }
            for r in rows
        ],
    )


def insert_short_streams(
    conn: Connection,
    member_id: int,
    rows: Sequence[tuple[datetime, int, int, str | None]],
    import_id: int | None = None,
) -> int:
    """Store (ended_at, track_id, ms_played, reason_end) skip signals idempotently."""
    return insert_ignore(
        conn,
        short_streams,
        [
            {
                "member_id": member_id,
                "ended_at": ended_at,
                "track_id": track_id,
                "ms_played": ms,
                "reason_end": reason,
                "import_id": import_id,
            }
            for ended_at, track_id, ms, reason in rows
        ],
    )


def count_plays(conn: Connection, member_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(plays).where(plays.c.member_id == member_id)).scalar_one())


def last_played_at(
    conn: Connection, member_id: int, source: str | None = None, *, before: datetime | None = None
) -> datetime | None:
    """The member's newest play (of *source*; at or before *before*: a future-dated one is not a play)."""
    stmt = select(func.max(plays.c.played_at)).where(plays.c.member_id == member_id)
    if source:
        stmt = stmt.where(plays.c.source == source)
    if before is not None:
        stmt = stmt.where(plays.c.played_at <= before)
    value: datetime | None = conn.execute(stmt).scalar_one()
    return value


def has_play(conn: Connection, member_id: int, played_at: datetime, track_id: int) -> bool:
    """Whether this play (its natural key) is stored."""
    stmt = select(plays.c.id).where(
        plays.c.member_id == member_id, plays.c.played_at == played_at, plays.c.track_id == track_id
    )
    return conn.execute(stmt.limit(1)).first() is not None


def newest_play_before(conn: Connection, member_id: int, at: datetime) -> datetime | None:
    """The played_at of the member's newest stored play strictly before *at*, any source."""
    stmt = select(func.max(plays.c.played_at)).where(plays.c.member_id == member_id, plays.c.played_at < at)
    value: datetime | None = conn.execute(stmt).scalar_one()
    return value

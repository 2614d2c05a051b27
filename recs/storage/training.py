"""Training queries: interactions as integer arrays, model runs, and the stored recommendation lists.

Public functions (all take a Connection first; the caller owns the transaction):
- `read_signals(conn, member_ids, sources, today)` -> recs.core.interactions.Signals, read in chunks straight
  into numpy arrays (integer ids and epoch seconds, never string rows);
- `read_top_tracks(conn, member_id)` -> the member's latest top tracks, best first;
- `track_artist_sets(conn, track_ids)` -> artist ids per track, in credit order;
- `start_run`, `running_runs`, `fail_run`, `fail_stale_runs`, `finish_run` (writes the run and its recommendations and
  flips model_runs.is_current, in the caller's single transaction), `current_run`, `list_runs`;
- `read_recommendations(conn, member_id, mode)` -> Recommendation rows of the current run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from recs.core.domain import Recommendation, RecommendationRow
from recs.core.interactions import CONTEXT_EXCLUDED, CONTEXT_NORMAL, CONTEXT_OWN_PUBLISHED, Signals
from recs.storage import feedback
from recs.storage.schema import (
    excluded_contexts,
    liked_tracks,
    model_runs,
    playlist_items,
    playlists,
    plays,
    published_playlists,
    recommendations,
    saved_tracks,
    short_streams,
    top_items,
    track_artists,
)

CHUNK = 200_000


def _epoch(conn: Connection, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 as a float, computed by the database (no datetime objects per row)."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", column), Float)


def _sources(sources: str) -> tuple[str, ...]:
    if sources not in ("api", "export", "both"):
        raise ValueError(f"training.sources must be api, export or both, got {sources!r}")
    return ("api", "export") if sources == "both" else (sources,)


def _fetch_arrays(conn: Connection, stmt: Any, dtypes: Sequence[Any]) -> list[np.ndarray[Any, Any]]:
    """Run *stmt* and return one numpy array per column, filled chunk by chunk."""
    parts: list[list[np.ndarray[Any, Any]]] = [[] for _ in dtypes]
    result = conn.execute(stmt.execution_options(yield_per=CHUNK))
    for chunk in result.partitions(CHUNK):
        cols = list(zip(*chunk, strict=True)) if chunk else [() for _ in dtypes]
        for i, dt in enumerate(dtypes):
            values = cols[i]
            try:
                parts[i].append(np.array(values, dtype=dt))
            except TypeError:  # NULLs (e.g. an unknown added_at): NaN for floats
                parts[i].append(np.array([np.nan if v is None else v for v in values], dtype=dt))
    return [np.concatenate(p) if p else np.zeros(0, dtype=dt) for p, dt in zip(parts, dtypes, strict=True)]


# Longer member lists are not sent as bound parameters (SQLite caps their number): rows of other members
# are then read and dropped in numpy (the weighting ignores members it was not given).
MAX_IN_LIST = 500


def _of_members(column: Any, members: Sequence[int]) -> ColumnElement[bool]:
    return column.in_(list(members)) if len(members) <= MAX_IN_LIST else true()


def _keep(member_col: np.ndarray[Any, Any], members: Sequence[int]) -> np.ndarray[Any, Any]:
    if len(members) <= MAX_IN_LIST:
        return np.ones(member_col.size, dtype=bool)
    return np.isin(member_col, np.asarray(members, dtype=np.int64))


def read_signals(conn: Connection, member_ids: Sequence[int], sources: str, today: date) -> Signals:
    """Everything the weighting needs for *member_ids*, as integer/float arrays."""
    allowed = _sources(sources)
    members = list(member_ids)
    if not members:
        return Signals.from_plays([], [], [])
    own_uri = literal("spotify:playlist:") + published_playlists.c.spotify_playlist_id
    is_excluded = exists().where(
        excluded_contexts.c.member_id == plays.c.member_id,
        excluded_contexts.c.context_uri == plays.c.context_uri,
    )
    is_own = exists().where(published_playlists.c.spotify_playlist_id.is_not(None), own_uri == plays.c.context_uri)
    context = case(
        (plays.c.context_uri.is_(None), literal(CONTEXT_NORMAL)),
        (is_excluded, literal(CONTEXT_EXCLUDED)),
        (is_own, literal(CONTEXT_OWN_PUBLISHED)),
        else_=literal(CONTEXT_NORMAL),
    )
    skipped = case(
        (or_(plays.c.skipped.is_(True), plays.c.reason_end == "fwdbtn"), literal(1)),
        else_=literal(0),
    )
    stmt = (
        select(plays.c.member_id, plays.c.track_id, _epoch(conn, plays.c.played_at), skipped, context)
        .where(_of_members(plays.c.member_id, members), plays.c.source.in_(allowed))
        .order_by(plays.c.member_id, plays.c.played_at)
    )
    pm, pt, pa, ps, pc = _fetch_arrays(conn, stmt, [np.int64, np.int64, np.float64, np.int8, np.int8])

    if "export" in allowed:
        stmt = select(
            short_streams.c.member_id, short_streams.c.track_id, _epoch(conn, short_streams.c.ended_at)
        ).where(_of_members(short_streams.c.member_id, members))
        sm, st, sa = _fetch_arrays(conn, stmt, [np.int64, np.int64, np.float64])
    else:
        sm, st, sa = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)

    stmt = select(saved_tracks.c.member_id, saved_tracks.c.track_id, _epoch(conn, saved_tracks.c.added_at)).where(
        _of_members(saved_tracks.c.member_id, members)
    )
    vm, vt, va = _fetch_arrays(conn, stmt, [np.int64, np.int64, np.float64])

    # Own playlists only; never our own published lists, nor a playlist the member excluded from their taste.
    is_published = exists().where(
        published_playlists.c.spotify_playlist_id.is_not(None),
        published_playlists.c.spotify_playlist_id == playlists.c.spotify_id,
    )
    playlist_excluded = exists().where(
        excluded_contexts.c.member_id == playlists.c.member_id,
        excluded_contexts.c.context_uri == literal("spotify:playlist:") + playlists.c.spotify_id,
    )
    stmt = (
        select(playlists.c.id, playlists.c.member_id, playlist_items.c.track_id)
        .join(playlist_items, playlist_items.c.playlist_id == playlists.c.id)
        .where(
            _of_members(playlists.c.member_id, members), playlists.c.owned.is_(True), ~is_published, ~playlist_excluded
        )
    )
    lid, lm, lt = _fetch_arrays(conn, stmt, [np.int64, np.int64, np.int64])

    stmt = select(liked_tracks.c.member_id, liked_tracks.c.track_id).where(
        _of_members(liked_tracks.c.member_id, members)
    )
    km, kt = _fetch_arrays(conn, stmt, [np.int64, np.int64])

    removed = feedback.hidden_or_blocked_pairs(today, lambda column: _of_members(column, members))
    rm, rt = _fetch_arrays(conn, removed, [np.int64, np.int64])

    if len(members) > MAX_IN_LIST:
        kp, ks, kv, kl, kr, kk = (_keep(a, members) for a in (pm, sm, vm, lm, rm, km))
        pm, pt, pa, ps, pc = pm[kp], pt[kp], pa[kp], ps[kp], pc[kp]
        sm, st, sa = sm[ks], st[ks], sa[ks]
        vm, vt, va = vm[kv], vt[kv], va[kv]
        lid, lm, lt = lid[kl], lm[kl], lt[kl]
        rm, rt = rm[kr], rt[kr]
        km, kt = km[kk], kt[kk]
    return Signals(
        play_member=pm,
        play_track=pt,
        play_at=pa,
        play_skipped=ps.astype(bool),
        play_context=pc,
        short_member=sm,
        short_track=st,
        short_at=sa,
        saved_member=vm,
        saved_track=vt,
        saved_at=va,
        playlist_id=lid,
        playlist_member=lm,
        playlist_track=lt,
        liked_member=km,
        liked_track=kt,
        removed_member=rm,
        removed_track=rt,
    )


def read_top_tracks(conn: Connection, member_id: int) -> list[int]:
    """Track ids of the member's latest top-tracks snapshots (short, medium, long term), best first, distinct."""
    latest = (
        select(top_items.c.time_range, func.max(top_items.c.taken_at).label("taken_at"))
        .where(top_items.c.member_id == member_id, top_items.c.kind == "tracks")
        .group_by(top_items.c.time_range)
        .subquery()
    )
    rows = conn.execute(
        select(top_items.c.track_id, top_items.c.rank)
        .join(
            latest,
            and_(top_items.c.time_range == latest.c.time_range, top_items.c.taken_at == latest.c.taken_at),
        )
        .where(top_items.c.member_id == member_id, top_items.c.kind == "tracks", top_items.c.track_id.is_not(None))
        .order_by(top_items.c.rank, top_items.c.time_range)
    ).all()
    seen: dict[int, None] = {}
    for track_id, _ in rows:
        seen.setdefault(int(track_id), None)
    return list(seen)


def track_artist_sets(conn: Connection, track_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """Artist ids of each track in credit order (tracks with no credited artist map to ())."""
    ids = sorted(set(track_ids))
    out: dict[int, list[tuple[int, int]]] = {t: [] for t in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for tid, pos, aid in conn.execute(
            select(track_artists.c.track_id, track_artists.c.position, track_artists.c.artist_id).where(
                track_artists.c.track_id.in_(chunk)
            )
        ):
            out[tid].append((pos, aid))
    return {t: tuple(a for _, a in sorted(v)) for t, v in out.items()}


# ---- runs and recommendations


@dataclass(frozen=True)
class RunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    model_kind: str | None
    params: dict[str, Any] | None
    data_size: dict[str, Any] | None
    metrics: dict[str, Any] | None
    baselines: dict[str, Any] | None
    timings: dict[str, Any] | None
    artifact_path: str | None
    note: str | None
    is_current: bool


def _run(row: Any) -> RunRow:
    m = row._mapping
    return RunRow(**{k: m[k] for k in RunRow.__dataclass_fields__})


RUNNING_PREFIX = "running on "


def start_run(conn: Connection, now: datetime, owner: str = "") -> int:
    """A 'running' row; *owner* (host:pid) lets a later run tell a killed run from a live one."""
    result = conn.execute(
        model_runs.insert().values(started_at=now, status="running", is_current=False, note=RUNNING_PREFIX + owner)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def running_runs(conn: Connection) -> list[tuple[int, datetime, str]]:
    """(id, started_at, owner) of every run still marked running."""
    rows = conn.execute(
        select(model_runs.c.id, model_runs.c.started_at, model_runs.c.note).where(model_runs.c.status == "running")
    )
    return [(r[0], r[1], (r[2] or "").removeprefix(RUNNING_PREFIX)) for r in rows]


def fail_run(conn: Connection, run_id: int, now: datetime, note: str) -> None:
    conn.execute(
        update(model_runs)
        .where(model_runs.c.id == run_id, model_runs.c.status == "running")
        .values(status="failed", finished_at=now, note=note[:2000])
    )


def fail_stale_runs(conn: Connection, now: datetime, run_ids: Sequence[int] | None = None) -> int:
    """Mark runs that were killed (the given ids, or every running one) as failed. Returns how many."""
    stmt = update(model_runs).where(model_runs.c.status == "running")
    if run_ids is not None:
        if not run_ids:
            return 0
        stmt = stmt.where(model_runs.c.id.in_(list(run_ids)))
    result = conn.execute(
        stmt.values(status="failed", finished_at=now, note="interrupted: the training process ended before finishing")
    )
    return int(result.rowcount)


def finish_run(
    conn: Connection,
    run_id: int,
    now: datetime,
    *,
    model_kind: str,
    params: dict[str, Any],
    data_size: dict[str, Any],
    metrics: dict[str, Any],
    baselines: dict[str, Any],
    timings: dict[str, Any],
    artifact_path: str | None,
    note: str,
    rows: Sequence[RecommendationRow],
) -> None:
    """Store the recommendations and make this run the current one; call inside one write transaction."""
    for start in range(0, len(rows), 1000):
        conn.execute(
            recommendations.insert(),
            [
                {
                    "run_id": run_id,
                    "member_id": r.member_id,
                    "mode": r.mode,
                    "rank": r.rank,
                    "track_id": r.track_id,
                    "score": r.score,
                    "explanation": r.explanation,
                    "because_track_id": r.because_track_id,
                    "source": r.source,
                }
                for r in rows[start : start + 1000]
            ],
        )
    conn.execute(update(model_runs).where(model_runs.c.is_current.is_(True)).values(is_current=False))
    updated = conn.execute(
        update(model_runs)
        .where(model_runs.c.id == run_id, model_runs.c.status == "running")
        .values(
            status="succeeded",
            finished_at=now,
            model_kind=model_kind,
            params=params,
            data_size=data_size,
            metrics=metrics,
            baselines=baselines,
            timings=timings,
            artifact_path=artifact_path,
            note=note,
            is_current=True,
        )
    )
    if updated.rowcount != 1:
        raise RuntimeError(f"model run {run_id} is no longer running (marked failed by another process?)")


def current_run(conn: Connection) -> RunRow | None:
    row = conn.execute(select(model_runs).where(model_runs.c.is_current.is_(True))).first()
    return _run(row) if row else None


def list_runs(conn: Connection, limit: int = 20) -> list[RunRow]:
    return [_run(r) for r in conn.execute(select(model_runs).order_by(model_runs.c.id.desc()).limit(limit))]


def artifact_paths(conn: Connection, newest: int = 2) -> set[str]:
    """Artifact paths of the *newest* succeeded runs (the current one and the one before it, by default)."""
    stmt = (
        select(model_runs.c.artifact_path)
        .where(model_runs.c.artifact_path.is_not(None), model_runs.c.status == "succeeded")
        .order_by(model_runs.c.id.desc())
        .limit(newest)
    )
    return {r[0] for r in conn.execute(stmt)}


def read_recommendations(conn: Connection, member_id: int, mode: str) -> list[Recommendation]:
    """The current run's list for a member and mode, by rank, as training stored it (empty before the first run).

    What the member said since (hides, blocks, plays) is applied by `recs.usecases.recommendations`, not here.
    """
    stmt = (
        select(
            recommendations.c.run_id,
            recommendations.c.rank,
            recommendations.c.track_id,
            recommendations.c.score,
            recommendations.c.explanation,
            recommendations.c.because_track_id,
            recommendations.c.source,
        )
        .join(model_runs, model_runs.c.id == recommendations.c.run_id)
        .where(
            model_runs.c.is_current.is_(True),
            recommendations.c.member_id == member_id,
            recommendations.c.mode == mode,
        )
        .order_by(recommendations.c.rank)
    )
    return [
        Recommendation(run_id, rank, track_id, score, explanation, because, source=source)
        for run_id, rank, track_id, score, explanation, because, source in conn.execute(stmt)
    ]

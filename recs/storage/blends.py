"""Household Blend queries: a run's favourites and enjoyment per Blend member, and the made Blends (docs/blend.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select

from recs.core.domain import BlendTrack, StoredBlend
from recs.storage.schema import blend_enjoyment, blend_favourites, blend_members, blend_tracks, blends, tracks

CHUNK = 500


def save_run_rows(
    conn: Connection,
    run_id: int,
    favourites: Mapping[int, Sequence[int]],
    enjoyment: Mapping[tuple[int, int], float],
) -> None:
    """Store a run's favourites (member -> track ids, best first) and enjoyment ((member, track) -> 0..1)."""
    conn.execute(delete(blend_favourites).where(blend_favourites.c.run_id == run_id))
    conn.execute(delete(blend_enjoyment).where(blend_enjoyment.c.run_id == run_id))
    fav_rows = [
        {"run_id": run_id, "member_id": m, "track_id": t, "rank": rank}
        for m, ids in favourites.items()
        for rank, t in enumerate(ids, start=1)
    ]
    enj_rows = [{"run_id": run_id, "member_id": m, "track_id": t, "score": s} for (m, t), s in enjoyment.items()]
    for start in range(0, len(fav_rows), CHUNK):
        conn.execute(blend_favourites.insert(), fav_rows[start : start + CHUNK])
    for start in range(0, len(enj_rows), CHUNK):
        conn.execute(blend_enjoyment.insert(), enj_rows[start : start + CHUNK])


def run_favourites(conn: Connection, run_id: int, member_ids: Iterable[int]) -> dict[int, list[int]]:
    """Member -> their favourites stored by the run (best first); a member the run has none for is absent."""
    ids = sorted(set(member_ids))
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    stmt = (
        select(blend_favourites.c.member_id, blend_favourites.c.track_id)
        .where(blend_favourites.c.run_id == run_id, blend_favourites.c.member_id.in_(ids))
        .order_by(blend_favourites.c.member_id, blend_favourites.c.rank)
    )
    for m, t in conn.execute(stmt):
        out.setdefault(int(m), []).append(int(t))
    return out


def run_enjoyment(conn: Connection, run_id: int, member_ids: Iterable[int]) -> dict[tuple[int, int], float]:
    """(member, track) -> how the run's model places the track for the member (0..1), for *member_ids* only."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    stmt = select(blend_enjoyment.c.member_id, blend_enjoyment.c.track_id, blend_enjoyment.c.score).where(
        blend_enjoyment.c.run_id == run_id, blend_enjoyment.c.member_id.in_(ids)
    )
    return {(int(m), int(t)): float(s) for m, t, s in conn.execute(stmt)}


def spotify_ids(conn: Connection, track_ids: Iterable[int]) -> dict[int, str | None]:
    ids = sorted(set(track_ids))
    out: dict[int, str | None] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        out.update(
            (int(t), s) for t, s in conn.execute(select(tracks.c.id, tracks.c.spotify_id).where(tracks.c.id.in_(chunk)))
        )
    return out


def save_blend(
    conn: Connection,
    made_at: datetime,
    run_id: int | None,
    participants: Sequence[int],
    picks: Sequence[BlendTrack],
    matches: Sequence[tuple[int, int, float]],
) -> int:
    """Store a made Blend (its participants, tracks in order and taste matches); returns its id."""
    blend_id = int(
        conn.execute(
            blends.insert().values(made_at=made_at, run_id=run_id, matches=[[a, b, v] for a, b, v in matches])
        ).inserted_primary_key[0]  # type: ignore[index]
    )
    counts = dict.fromkeys(participants, 0)
    for p in picks:
        counts[p.member_id] = counts.get(p.member_id, 0) + 1
    if counts:
        conn.execute(
            blend_members.insert(), [{"blend_id": blend_id, "member_id": m, "tracks": n} for m, n in counts.items()]
        )
    if picks:
        conn.execute(
            blend_tracks.insert(),
            [
                {
                    "blend_id": blend_id,
                    "position": p.position,
                    "track_id": p.track_id,
                    "member_id": p.member_id,
                    "shared_with": list(p.shared_with),
                }
                for p in picks
            ],
        )
    return blend_id


def latest_blend(conn: Connection) -> StoredBlend | None:
    """The newest made Blend; a participant deleted since is gone from it (their rows cascade away)."""
    row = conn.execute(select(blends).order_by(blends.c.made_at.desc(), blends.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    m = row._mapping
    blend_id = int(m["id"])
    shares = {
        int(mid): int(n)
        for mid, n in conn.execute(
            select(blend_members.c.member_id, blend_members.c.tracks)
            .where(blend_members.c.blend_id == blend_id)
            .order_by(blend_members.c.member_id)
        )
    }
    picks = tuple(
        BlendTrack(int(pos), int(tid), int(mid), tuple(int(x) for x in (shared or []) if int(x) in shares))
        for pos, tid, mid, shared in conn.execute(
            select(
                blend_tracks.c.position, blend_tracks.c.track_id, blend_tracks.c.member_id, blend_tracks.c.shared_with
            )
            .where(blend_tracks.c.blend_id == blend_id)
            .order_by(blend_tracks.c.position)
        )
    )
    matches = tuple(
        (int(a), int(b), float(v)) for a, b, v in (m["matches"] or []) if int(a) in shares and int(b) in shares
    )
    return StoredBlend(blend_id, m["made_at"], m["run_id"], shares, picks, matches)

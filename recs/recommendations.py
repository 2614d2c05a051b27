"""Reading a member's current lists: the stored list, minus what they said since it was made (hides, blocks, plays).

`current_recommendations(db, member_id, mode, today=...)` is the list as the member sees it, read by the
dashboard and by `recs recommend` alike; `still_wanted(...)` is the same rule over any ranked tracks
(publishing adds the artist cap and the playlist's length). The rule itself is `recs.ranking.apply_filters`
over `recs.storage.feedback.member_filters`: hidden tracks, artists blocked that day, and, for "discover",
tracks the member has played since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
from datetime import date

from recs import storage
from recs.domain import Recommendation
from recs.ranking import apply_filters
from recs.storage import Connection, Database
from recs.storage.catalog import get_tracks
from recs.storage.publishing import played_track_ids

MODES = ("discover", "rediscover")

__all__ = ["MODES", "Recommendation", "current_recommendations", "still_wanted"]


def still_wanted(
    conn: Connection,
    member_id: int,
    mode: str,
    today: date,
    ranked: Sequence[int],
    artists: Mapping[int, Sequence[int]],
    *,
    cap: int | None = None,
    exclude: Set[int] = frozenset(),
    limit: int | None = None,
) -> list[int]:
    """*ranked* minus the member's filters on *today* and, for "discover", the tracks they have played since."""
    filters = storage.feedback.member_filters(conn, member_id, today)
    if mode == "discover":
        exclude = exclude | played_track_ids(conn, member_id, list(ranked))
    return apply_filters(ranked, artists, filters, cap=cap, exclude=exclude, limit=limit)


def current_recommendations(
    db: Database, member_id: int, mode: str = "discover", *, today: date | None = None, limit: int | None = None
) -> list[Recommendation]:
    """The current run's list for a member, best first, with track display data.

    With *today*, the list as the member sees it (see the module docstring); without, as training stored it.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    with db.read() as conn:
        stored = storage.training.read_recommendations(conn, member_id, mode)
        if today is not None:
            ids = [r.track_id for r in stored]
            artists = storage.training.track_artist_sets(conn, ids)
            kept = set(still_wanted(conn, member_id, mode, today, ids, artists))
            stored = [r for r in stored if r.track_id in kept]
        stored = stored[:limit]
        tracks = get_tracks(conn, [r.track_id for r in stored])
    return [replace(r, track=tracks.get(r.track_id)) for r in stored]

"""Reading a member's current lists: the stored list, minus what they said since it was made (hides, blocks, plays).

`current_recommendations(db, member_id, mode, today=...)` is the list as the member sees it, read by the
dashboard and by `recs recommend` alike. The rule is `recs.core.ranking.apply_filters` over
`recs.storage.feedback.list_filters` (hidden tracks, artists blocked that day and, for "discover", tracks
played since); publishing applies the same, plus the artist cap and the playlist's length.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from recs import storage
from recs.core.domain import Recommendation
from recs.core.ranking import apply_filters
from recs.storage import Database
from recs.storage.catalog import get_tracks

MODES = ("discover", "rediscover")

__all__ = ["MODES", "Recommendation", "current_recommendations"]


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
            filters = storage.feedback.list_filters(conn, member_id, mode, today, ids)
            kept = set(apply_filters(ids, artists, filters))
            stored = [r for r in stored if r.track_id in kept]
        stored = stored[:limit]
        tracks = get_tracks(conn, [r.track_id for r in stored])
    return [replace(r, track=tracks.get(r.track_id)) for r in stored]

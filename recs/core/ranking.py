"""Turning a ranking into a stored list: filters, the per-artist cap and seeded weekly exploration (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from datetime import datetime

import numpy as np

from recs.core.domain import MemberFilters


def apply_filters(
    ranked: Sequence[int],
    artists: Mapping[int, Sequence[int]],
    filters: MemberFilters,
    *,
    cap: int | None = None,
    exclude: Set[int] = frozenset(),
    limit: int | None = None,
) -> list[int]:
    """Ranked track ids minus the member's *filters* and *exclude*, at most *cap* per artist, rank order kept.

    A track by any blocked artist is left out. Every credited artist counts against the cap (a track
    "A feat. B" uses one of A's places and one of B's), so a featured artist cannot fill a list through
    other artists' tracks; a track that would put any of its artists over the cap is passed over.
    """
    if cap is not None and cap <= 0:
        raise ValueError(f"artist cap must be positive, got {cap}")
    per_artist: dict[int, int] = {}
    out: list[int] = []
    for track in ranked:
        if track in filters.hidden or track in filters.played or track in exclude:
            continue
        credits = artists.get(track, ())
        if any(a in filters.blocked_artists for a in credits):
            continue
        if cap is not None:
            if any(per_artist.get(a, 0) >= cap for a in credits):
                continue
            for a in credits:
                per_artist[a] = per_artist.get(a, 0) + 1
        out.append(track)
        if limit is not None and len(out) >= limit:
            break
    return out


def week_seed(seed: int, member_id: int, now: datetime, salt: int = 0) -> list[int]:
    """Seed material that is fixed within an ISO week and changes the next week."""
    year, week, _ = now.isocalendar()
    return [seed, member_id, year, week, salt]


def explore(ranked: Sequence[int], size: int, exploration: float, rng: np.random.Generator) -> list[int]:
    """The list of *size*: mostly the top of *ranked*, with a share drawn at random from further down.

    Explored picks come from ranks [keep, 3 * size) and are placed at evenly spaced slots (every
    1/exploration-th), so a playlist cut from the top of the list carries some of them too.
    """
    if not 0 <= exploration <= 1:
        raise ValueError(f"exploration must be within 0..1, got {exploration}")
    if size <= 0:
        return []
    n_explore = round(size * exploration)
    keep = size - n_explore
    head = list(ranked[:keep])
    pool = list(ranked[keep : 3 * size])
    if n_explore == 0 or not pool:
        return list(ranked[:size])
    take = min(n_explore, len(pool))
    picked_idx = sorted(rng.choice(len(pool), size=take, replace=False).tolist())
    picked = [pool[i] for i in picked_idx]
    step = max(round(1 / exploration), 1) if exploration > 0 else size + 1
    out: list[int] = []
    hi = iter(head)
    pi = iter(picked)
    for slot in range(size):
        source = pi if (slot + 1) % step == 0 else hi
        item = next(source, None)
        if item is None:
            item = next(hi if source is pi else pi, None)
        if item is None:
            break
        out.append(item)
    return out

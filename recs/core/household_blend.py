"""The household Blend's rules (pure): favourites, enjoyment percentiles, taste match and the fair mix (docs/blend.md).

Training calls `blend_signals` (only the data of each member's Blend-on intervals), `favourites` and
`percentiles`; the weekly Blend job calls `mix` and `taste_match` on what training stored, for whoever
takes part that week. Nothing here reads or writes storage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.stats import rankdata

from recs.core.domain import MemberFilters
from recs.core.interactions import Signals
from recs.core.ranking import apply_filters

# Favourites stored per member and run: room for the vetoes, the artist cap and a long Blend.
FAVOURITES = 100
# A Blend needs this many participants; with fewer none is made.
MIN_PARTICIPANTS = 2

# (start, end) epoch seconds in which a member had the Blend switched off after granting it (end inf: still off).
Interval = tuple[float, float]


def _outside(
    member: npt.NDArray[np.int64], at: npt.NDArray[np.float64], off: Mapping[int, Sequence[Interval]]
) -> npt.NDArray[np.bool_]:
    keep = np.ones(member.size, dtype=bool)
    for m, intervals in off.items():
        mine = member == m
        for start, end in intervals:
            # A row with no known time (NaN) is library state, not a moment: it stays.
            keep &= ~(mine & (at >= start) & (at < end))
    return keep


def blend_signals(signals: Signals, off: Mapping[int, Sequence[Interval]]) -> Signals:
    """*signals* without the plays, short streams and saves timed inside a member's Blend-off intervals.

    Playlist items carry no time and stay; hidden and blocked pairs stay (they only ever remove).
    """
    if not any(off.values()):
        return signals
    p = _outside(signals.play_member, signals.play_at, off)
    s = _outside(signals.short_member, signals.short_at, off)
    v = _outside(signals.saved_member, signals.saved_at, off)
    return dataclasses.replace(
        signals,
        play_member=signals.play_member[p],
        play_track=signals.play_track[p],
        play_at=signals.play_at[p],
        play_skipped=signals.play_skipped[p],
        play_context=signals.play_context[p],
        short_member=signals.short_member[s],
        short_track=signals.short_track[s],
        short_at=signals.short_at[s],
        saved_member=signals.saved_member[v],
        saved_track=signals.saved_track[v],
        saved_at=signals.saved_at[v],
    )


def favourites(row: sparse.csr_matrix, item_ids: npt.NDArray[np.int64], n: int = FAVOURITES) -> list[int]:
    """The track ids of a member's *n* strongest positive weights in their (1 x items) *row*, strongest first."""
    data = np.asarray(row.data, dtype=np.float64)
    cols = np.asarray(row.indices, dtype=np.int64)
    positive = data > 0
    data, cols = data[positive], cols[positive]
    # Strongest first; ties by track id, so the order never depends on the matrix layout.
    ids = item_ids[cols]
    order = np.lexsort((ids, -data))[:n]
    return [int(t) for t in ids[order].tolist()]


def percentiles(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Each score's place among all of them, in (0, 1]: 1 is the best, ties share their average place."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        return x
    x = np.where(np.isfinite(x), x, -np.inf)
    out: npt.NDArray[np.float64] = rankdata(x, method="average") / x.size
    return out


def taste_match(
    a: int, b: int, favs: Mapping[int, Sequence[int]], enjoyment: Mapping[tuple[int, int], float]
) -> float | None:
    """How well two participants' tastes match, 0..1 (None: nothing to compare).

    The mean, over A's favourites, of where B's model places them among all the household's tracks (a
    percentile, 1 = B's best) together with the same over B's favourites for A. Tracks picked at random
    score about 0.5; favourites the other shares score near 1.
    """
    values = [enjoyment[(b, t)] for t in favs.get(a, ()) if (b, t) in enjoyment]
    values += [enjoyment[(a, t)] for t in favs.get(b, ()) if (a, t) in enjoyment]
    if not values:
        return None
    return float(np.mean(values))


def ranked_for(
    member: int,
    participants: Sequence[int],
    favs: Mapping[int, Sequence[int]],
    enjoyment: Mapping[tuple[int, int], float],
) -> list[int]:
    """*member*'s candidates, best first: favourites another participant shares (in the member's order), then
    the rest by how much the other participants are likely to enjoy them (their mean percentile)."""
    others = [p for p in participants if p != member]
    theirs = {t for p in others for t in favs.get(p, ())}
    mine = list(favs.get(member, ()))
    shared = [t for t in mine if t in theirs]
    rest = [t for t in mine if t not in theirs]

    def liked(t: int) -> float:
        values = [enjoyment[(p, t)] for p in others if (p, t) in enjoyment]
        return float(np.mean(values)) if values else 0.0

    place = {t: i for i, t in enumerate(mine)}
    rest.sort(key=lambda t: (-liked(t), place[t]))
    return shared + rest


def veto(filters: Sequence[MemberFilters]) -> MemberFilters:
    """One filter holding every participant's hidden tracks and blocked artists: any one of them keeps a track out."""
    hidden: frozenset[int] = frozenset().union(*(f.hidden for f in filters))
    blocked: frozenset[int] = frozenset().union(*(f.blocked_artists for f in filters))
    return MemberFilters(hidden, blocked)


@dataclass(frozen=True)
class BlendPick:
    """One track of a Blend: the participant whose taste brought it, and the others who count it a favourite."""

    track_id: int
    member_id: int
    shared_with: tuple[int, ...]


def turn_order(participants: Sequence[int], now: datetime) -> list[int]:
    """Who picks first this ISO week: the order rotates weekly, so no one always gets the odd extra track."""
    ordered = sorted(participants)
    if not ordered:
        return []
    _year, week, _ = now.isocalendar()
    k = week % len(ordered)
    return ordered[k:] + ordered[:k]


def mix(
    participants: Sequence[int],
    favs: Mapping[int, Sequence[int]],
    enjoyment: Mapping[tuple[int, int], float],
    filters: Sequence[MemberFilters],
    artists: Mapping[int, Sequence[int]],
    *,
    size: int,
    cap: int | None,
    exclude: frozenset[int] = frozenset(),
) -> list[BlendPick]:
    """The Blend: participants take turns (in *participants*' order), each adding their best candidate left.

    Every participant's vetoes (*filters*) keep a track out for all; *exclude* holds tracks that cannot be
    written. At most *cap* tracks per credited artist over the whole Blend. The mix stops as soon as one
    participant has nothing left to add, so shares differ by at most one track.
    """
    if len(participants) < MIN_PARTICIPANTS:
        return []
    vetoed = veto(filters)
    queues = {
        m: apply_filters(ranked_for(m, participants, favs, enjoyment), artists, vetoed, exclude=exclude)
        for m in participants
    }
    fans: dict[int, set[int]] = {}
    for m in participants:
        for t in favs.get(m, ()):
            fans.setdefault(t, set()).add(m)
    position = dict.fromkeys(participants, 0)
    used: set[int] = set()
    per_artist: dict[int, int] = {}
    picks: list[BlendPick] = []
    while len(picks) < size:
        for m in participants:
            if len(picks) >= size:
                break
            queue = queues[m]
            chosen: int | None = None
            while position[m] < len(queue):
                t = queue[position[m]]
                position[m] += 1
                credits = artists.get(t, ())
                if t in used or (cap is not None and any(per_artist.get(a, 0) >= cap for a in credits)):
                    continue
                chosen = t
                break
            if chosen is None:
                return picks
            used.add(chosen)
            for a in artists.get(chosen, ()):
                per_artist[a] = per_artist.get(a, 0) + 1
            shared = tuple(sorted(p for p in fans.get(chosen, ()) if p != m))
            picks.append(BlendPick(chosen, m, shared))
    return picks

"""The temporal hold-out: each member's own last days held out, and what in them counts as relevant (pure).

Tuning trains on `split(signals, days).train` and scores the models on `relevant(signals, train, cutoffs)`:
the tracks each member first played after their own cutoff (LensKit's temporal split, per member, so a
member whose listening stopped months ago, e.g. an export, still has a hold-out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recs.core.interactions import CONTEXT_NORMAL, DAY_S, FloatArray, IntArray, Interactions, Signals

Cutoffs = dict[int, float]


def last_days_cutoffs(signals: Signals, days: float) -> Cutoffs:
    """Each member's own hold-out start: their latest play minus *days* (stale exports keep a hold-out)."""
    out: Cutoffs = {}
    if signals.play_member.size:
        members, inverse = np.unique(signals.play_member, return_inverse=True)
        latest = np.full(members.size, -np.inf)
        np.maximum.at(latest, inverse, signals.play_at)
        out = {int(m): float(t) - days * DAY_S for m, t in zip(members, latest, strict=True)}
    return out


def cutoff_of(member: IntArray, cutoffs: Cutoffs | float) -> FloatArray:
    """The cutoff for each element of *member* (+inf for a member with none: all of theirs is known)."""
    if isinstance(cutoffs, float | int):
        return np.full(member.size, float(cutoffs))
    if not cutoffs:
        return np.full(member.size, np.inf)
    keys = np.array(sorted(cutoffs), dtype=np.int64)
    values = np.array([cutoffs[int(k)] for k in keys], dtype=np.float64)
    pos = np.minimum(np.searchsorted(keys, member), keys.size - 1)
    return np.where(keys[pos] == member, values[pos], np.inf)


def before(signals: Signals, cutoff: Cutoffs | float) -> Signals:
    """The signals known before *cutoff* (one time, or one per member); undated library rows count as known."""
    s = signals
    p = s.play_at < cutoff_of(s.play_member, cutoff)
    sh = s.short_at < cutoff_of(s.short_member, cutoff)
    v = ~(s.saved_at >= cutoff_of(s.saved_member, cutoff))
    return Signals(
        s.play_member[p],
        s.play_track[p],
        s.play_at[p],
        s.play_skipped[p],
        s.play_context[p],
        s.short_member[sh],
        s.short_track[sh],
        s.short_at[sh],
        s.saved_member[v],
        s.saved_track[v],
        s.saved_at[v],
        s.playlist_id,
        s.playlist_member,
        s.playlist_track,
        s.removed_member,
        s.removed_track,
    )


@dataclass(frozen=True)
class Split:
    """Each member's cutoff and the signals known before it (what the tuned models train on)."""

    cutoffs: Cutoffs
    train: Signals


def split(signals: Signals, days: float) -> Split:
    """Hold out each member's own last *days* of listening."""
    cutoffs = last_days_cutoffs(signals, days)
    return Split(cutoffs, before(signals, cutoffs))


def relevant_tracks(signals: Signals, train: Interactions, cutoffs: Cutoffs) -> dict[int, set[int]]:
    """Each member's tracks first played after their cutoff (new to them, not skipped, not from an excluded
    context nor from our own published lists), as track ids, keyed by *train*'s member rows."""
    s = signals
    member_rows = train.members.indices(s.play_member)
    # Plays from our own published lists would reward the previous model for its own picks: not relevant.
    ok = (member_rows >= 0) & ~s.play_skipped & (s.play_context == CONTEXT_NORMAL)
    known_before = s.play_at < cutoff_of(s.play_member, cutoffs)
    saved_before = ~(s.saved_at >= cutoff_of(s.saved_member, cutoffs))
    known = set(zip(s.play_member[known_before].tolist(), s.play_track[known_before].tolist(), strict=True))
    known.update(zip(s.saved_member[saved_before].tolist(), s.saved_track[saved_before].tolist(), strict=True))
    found: dict[int, set[int]] = {}
    after = ok & ~known_before
    for m, t, row in zip(
        s.play_member[after].tolist(), s.play_track[after].tolist(), member_rows[after].tolist(), strict=True
    ):
        if (m, t) not in known:
            found.setdefault(row, set()).add(t)
    return found


def relevant(
    signals: Signals, train: Interactions, cutoffs: Cutoffs
) -> tuple[npt.NDArray[np.int64], dict[int, set[int]]]:
    """`relevant_tracks` as item indices of *train*, with the rows that have any, sorted.

    Tracks the training matrix does not know count against recall but can never be hit (negative sentinels).
    """
    unknown: dict[int, int] = {}
    found: dict[int, set[int]] = {}
    for row, tracks in sorted(relevant_tracks(signals, train, cutoffs).items()):
        for t in sorted(tracks):
            idx = train.items.index_of(t)
            if idx < 0:
                idx = -1 - unknown.setdefault(t, len(unknown))
            found.setdefault(row, set()).add(idx)
    rows = np.array(sorted(found), dtype=np.int64)
    return rows, found

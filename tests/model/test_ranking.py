"""List building: hidden and blocked filters, the per-artist cap, and exploration that changes weekly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recs.core.domain import MemberFilters
from recs.core.ranking import apply_filters, explore, week_seed

ARTISTS = {t: (t // 10,) for t in range(100)}  # ten tracks per artist


def test_cap_hidden_and_blocked() -> None:
    ranked = list(range(100))
    out = apply_filters(ranked, ARTISTS, MemberFilters(frozenset({1}), frozenset({3})), cap=2)
    per_artist: dict[int, int] = {}
    for t in out:
        per_artist[ARTISTS[t][0]] = per_artist.get(ARTISTS[t][0], 0) + 1
    assert max(per_artist.values()) == 2
    assert 1 not in out and not any(30 <= t < 40 for t in out)
    assert out[:3] == [0, 2, 10]  # rank order kept


def test_a_blocked_featured_artist_blocks_the_track() -> None:
    assert apply_filters([5, 6], {5: (1, 9), 6: (2,)}, MemberFilters(blocked_artists=frozenset({9})), cap=2) == [6]


def test_every_credited_artist_counts_against_the_cap() -> None:
    # 1 and 2 are B's own tracks, 3 is "A feat. B": B already has two places, so 3 waits; 4 is A alone.
    artists = {1: (20,), 2: (20,), 3: (10, 20), 4: (10,), 5: (10,)}
    assert apply_filters([1, 2, 3, 4, 5], artists, MemberFilters(), cap=2) == [1, 2, 4, 5]
    # A featured artist takes a place too: after "A feat. B", B has one left.
    assert apply_filters([3, 1, 2], artists, MemberFilters(), cap=2) == [3, 1]


def test_excluded_tracks_and_the_limit() -> None:
    out = apply_filters(list(range(100)), ARTISTS, MemberFilters(), exclude={0, 1}, limit=3)
    assert out == [2, 3, 4]  # no cap asked: ten tracks of one artist may follow each other


def test_exploration_is_fixed_within_a_week_and_changes_across_weeks() -> None:
    ranked = list(range(300))
    monday = datetime(2026, 6, 1, tzinfo=UTC)

    def pick(when: datetime) -> list[int]:
        return explore(ranked, 50, 0.2, np.random.default_rng(week_seed(42, 7, when)))

    a, same_week, next_week = pick(monday), pick(monday + timedelta(days=5)), pick(monday + timedelta(days=7))
    assert a == same_week
    assert a != next_week
    assert len(a) == 50 and len(set(a)) == 50
    assert sum(1 for t in a if t >= 40) == 10  # 20 % drawn from further down
    assert a[:4] == [0, 1, 2, 3] and a[4] >= 40  # every fifth slot explores


def test_no_exploration_is_the_plain_top() -> None:
    assert explore(list(range(10)), 5, 0.0, np.random.default_rng(0)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="exploration"):
        explore([1], 1, 1.5, np.random.default_rng(0))

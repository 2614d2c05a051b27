"""The weighting: decay, diminishing repeats, skips, boosts, exclusions and pseudo-users, on hand-made signals."""

from __future__ import annotations

import numpy as np
import pytest

from recs.core.interactions import (
    CONTEXT_EXCLUDED,
    CONTEXT_OWN_PUBLISHED,
    DAY_S,
    Signals,
    Vocabulary,
    Weighting,
    build_interactions,
    count_interactions,
)

NOW = 1000 * DAY_S
W = Weighting(sessions=False, playlists=False)


def cell(inter, member: int, track: int) -> float:  # type: ignore[no-untyped-def]
    col = inter.items.index_of(track)
    return 0.0 if col < 0 else float(inter.matrix[inter.row_of(member), col])


def test_vocabulary_maps_both_ways_and_marks_unknown() -> None:
    v = Vocabulary([30, 10, 20, 10])
    assert list(v.ids) == [10, 20, 30]
    assert list(v.indices([20, 99, 10])) == [1, -1, 0]
    assert v.id_of(2) == 30 and 20 in v and 99 not in v and len(v) == 3


def test_repeats_have_diminishing_returns_and_old_plays_decay() -> None:
    s = Signals.from_plays([1] * 4 + [1], [5, 5, 5, 6, 7], [NOW] * 3 + [NOW, NOW - 365 * DAY_S])
    inter = build_interactions(s, Weighting(half_life_days=365, sessions=False), NOW, [1])
    assert cell(inter, 1, 6) == pytest.approx(1.0)  # log2(1 + 1)
    assert cell(inter, 1, 5) == pytest.approx(2.0)  # log2(1 + 3): three plays count twice one
    assert cell(inter, 1, 7) == pytest.approx(np.log2(1.5))  # one half-life old


def test_skips_excluded_or_counted_against() -> None:
    s = Signals.from_plays([1, 1, 1], [5, 5, 6], [NOW] * 3, skipped=[False, True, True])
    excl = build_interactions(s, W, NOW, [1])
    assert cell(excl, 1, 5) == pytest.approx(1.0) and cell(excl, 1, 6) == 0.0
    neg = build_interactions(s, Weighting(skips="negative", sessions=False, playlists=False), NOW, [1])
    assert cell(neg, 1, 5) == pytest.approx(0.0, abs=1e-6)  # one play, one skip
    assert cell(neg, 1, 6) == pytest.approx(-1.0)


def test_excluded_contexts_hidden_and_blocked_leave_the_profile() -> None:
    s = Signals.from_plays([1, 1, 1, 2], [5, 6, 7, 7], [NOW] * 4, context=[0, CONTEXT_EXCLUDED, 0, 0])
    s.removed_member = np.array([1])
    s.removed_track = np.array([7])
    inter = build_interactions(s, W, NOW, [1, 2])
    assert cell(inter, 1, 5) > 0
    assert cell(inter, 1, 6) == 0.0  # the kids' playlist
    assert cell(inter, 1, 7) == 0.0  # hidden for member 1 ...
    assert cell(inter, 2, 7) > 0  # ... but not for member 2


def test_plays_from_our_own_playlists_are_down_weighted() -> None:
    s = Signals.from_plays([1, 1], [5, 6], [NOW] * 2, context=[0, CONTEXT_OWN_PUBLISHED])
    inter = build_interactions(s, Weighting(own_playlist_weight=0.3, sessions=False), NOW, [1])
    assert cell(inter, 1, 6) == pytest.approx(np.log2(1.3))
    assert cell(inter, 1, 6) < cell(inter, 1, 5)


def test_saved_and_own_playlist_add_positive_signal() -> None:
    s = Signals.from_plays([1], [5], [NOW])
    s.saved_member, s.saved_track, s.saved_at = np.array([1, 1]), np.array([5, 8]), np.array([np.nan, NOW])
    s.playlist_id, s.playlist_member, s.playlist_track = np.array([3, 3]), np.array([1, 1]), np.array([8, 9])
    inter = build_interactions(s, Weighting(saved_weight=1.0, playlist_weight=0.5, sessions=False), NOW, [1])
    assert cell(inter, 1, 5) == pytest.approx(2.0)  # played once + saved
    assert cell(inter, 1, 8) == pytest.approx(1.5)  # saved + in a playlist, never played
    assert cell(inter, 1, 9) == pytest.approx(0.5)
    assert inter.n_playlists == 1 and inter.matrix.shape[0] == 2  # the playlist is a pseudo-user row


def test_sessions_become_pseudo_users_split_by_the_gap() -> None:
    minute = 60.0
    at = [NOW, NOW + 3 * minute, NOW + 6 * minute, NOW + 100 * minute, NOW + 103 * minute, NOW + 500 * minute]
    s = Signals.from_plays([1] * 6, [5, 6, 7, 8, 9, 5], at)
    inter = build_interactions(s, Weighting(session_gap_minutes=30), NOW, [1, 2])
    # Sessions {5,6,7} and {8,9}; the lone play at +500 min carries no co-occurrence.
    assert inter.n_sessions == 2 and inter.n_members == 2
    rows = inter.matrix[2:].toarray() > 0
    got = sorted(tuple(inter.items.ids[r].tolist()) for r in rows)
    assert got == [(5, 6, 7), (8, 9)]
    assert inter.matrix[1].nnz == 0  # a member with no data still has a (empty) row


def test_session_rows_only_for_small_households() -> None:
    at = [NOW, NOW + 60, NOW + 120]
    s = Signals.from_plays([1, 1, 1], [5, 6, 7], at)
    assert build_interactions(s, Weighting(sessions_up_to_members=2), NOW, [1, 2]).n_sessions == 1
    assert build_interactions(s, Weighting(sessions_up_to_members=2), NOW, [1, 2, 3]).n_sessions == 0


def test_plays_from_our_own_playlists_make_no_sessions() -> None:
    at = [NOW, NOW + 60, NOW + 120]
    s = Signals.from_plays([1, 1, 1], [5, 6, 7], at, context=[CONTEXT_OWN_PUBLISHED] * 3)
    assert build_interactions(s, Weighting(), NOW, [1]).n_sessions == 0
    s = Signals.from_plays([1, 1, 1], [5, 6, 7], at)
    assert build_interactions(s, Weighting(), NOW, [1]).n_sessions == 1


def test_members_without_consent_are_left_out() -> None:
    s = Signals.from_plays([1, 2], [5, 6], [NOW, NOW])
    inter = build_interactions(s, W, NOW, [1])
    assert 6 not in inter.items and inter.n_members == 1


def test_count_matrix_uses_the_same_diminishing_returns() -> None:
    m = count_interactions([0, 1], [1, 0], [1, 7], 2, 2)
    assert m[0, 1] == pytest.approx(1.0) and m[1, 0] == pytest.approx(3.0)


def test_bad_weighting_is_named() -> None:
    with pytest.raises(ValueError, match="skips"):
        Weighting(skips="sometimes")
    with pytest.raises(ValueError, match="half_life_days"):
        Weighting(half_life_days=0)

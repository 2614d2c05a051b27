"""The temporal hold-out: each member's own cutoff, what is known before it, and what counts as relevant after."""

from __future__ import annotations

import numpy as np
import pytest

from recs.core import holdout
from recs.core.interactions import CONTEXT_OWN_PUBLISHED, DAY_S, Signals, Weighting, build_interactions

NOW = 1000 * DAY_S


def test_each_member_holds_out_their_own_last_days() -> None:
    # Member 1 listened until NOW; member 2's export stopped 200 days earlier.
    at = [NOW - 30 * DAY_S, NOW - DAY_S, NOW - 230 * DAY_S, NOW - 201 * DAY_S]
    s = Signals.from_plays([1, 1, 2, 2], [5, 6, 7, 8], at)
    s.saved_member, s.saved_track, s.saved_at = np.array([2, 2]), np.array([9, 10]), np.array([NOW - 300 * DAY_S, NOW])
    cutoffs = holdout.last_days_cutoffs(s, 14)
    assert cutoffs == {1: pytest.approx(NOW - 15 * DAY_S), 2: pytest.approx(NOW - 215 * DAY_S)}
    kept = holdout.before(s, cutoffs)
    assert sorted(kept.play_track.tolist()) == [5, 7]
    assert kept.saved_track.tolist() == [9]
    assert sorted(holdout.before(s, NOW).play_track.tolist()) == [5, 6, 7, 8]


def test_the_hold_out_keeps_only_new_tracks_the_member_chose() -> None:
    now = 1000 * DAY_S
    old, recent = now - 30 * DAY_S, now - DAY_S
    # Member 1, before the cutoff: 5. After: 6 new, 7 from our own list, 8 skipped, 5 again (not new),
    # 9 new to them (member 2 played it earlier, so the model knows it). Member 2: 9 early, 12 recently.
    s = Signals.from_plays(
        [1, 2, 1, 1, 1, 1, 1, 2],
        [5, 9, 6, 7, 8, 5, 9, 12],
        [old, old, recent, recent, recent, recent, recent, recent],
        skipped=[False, False, False, False, True, False, False, False],
        context=[0, 0, 0, CONTEXT_OWN_PUBLISHED, 0, 0, 0, 0],
    )
    cutoffs = holdout.last_days_cutoffs(s, 14)
    train_part = build_interactions(holdout.before(s, cutoffs), Weighting(sessions=False), now, [1, 2])
    rows, relevant = holdout.relevant(s, train_part, cutoffs)
    assert rows.tolist() == [0, 1]
    reachable = {i for i in relevant[0] if i >= 0}
    assert reachable == {train_part.items.index_of(9)}
    assert len(relevant[0]) == 2, "6 counts (unknown to the model, so never hit); 5, 7 and 8 do not"
    assert len(relevant[1]) == 1 and min(relevant[1]) < 0  # 12: new to everyone

"""Explanations across a list: ranked reasons per card, and no one track explaining more than its share."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from recs.core.config import RecommendSettings
from recs.core.domain import MemberFilters
from recs.core.interactions import Signals, Weighting, build_interactions
from recs.model import AlsParams, fit_als, fit_itemknn, fit_popular
from recs.usecases.lists import ListBuilder, seed_cap, spread_reasons
from tests.model.test_models import checkerboard, models

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_seed_cap_is_two_in_twelve() -> None:
    assert [seed_cap(n) for n in (1, 6, 12, 13, 30)] == [1, 1, 2, 3, 5]


def test_spread_keeps_the_strongest_until_the_cap_then_the_next() -> None:
    # Twelve cards whose strongest reason is track 1; each has its own second reason.
    reasons = [[1, 100 + i, 200 + i] for i in range(12)]
    chosen = spread_reasons(reasons, cap=2)
    assert chosen[:2] == [1, 1]  # the best-ranked cards keep their strongest reason
    assert chosen[2:] == [100 + i for i in range(2, 12)]
    assert max(Counter(chosen).values()) == 2


def test_spread_repeats_only_without_an_alternative() -> None:
    chosen = spread_reasons([[1, 2], [1, 2], [1, 2], [1, 2], [1], [], [3]], cap=2)
    # Cards 1-4 share two reasons (two each); card 5 has only track 1, which is at the cap: it still gets it.
    assert chosen == [1, 1, 2, 2, 1, None, 3]


@pytest.mark.parametrize("kind", ["als", "itemknn", "blend"])
def test_explain_ranked_starts_with_explain_and_stays_in_the_row(kind: str) -> None:
    m, missing = checkerboard()
    model = models(m)[kind]
    for u in (0, 25):
        target = next(iter(missing[u]))
        ranked = model.explain_ranked(u, m, target, 4)
        assert ranked and ranked[0] == model.explain(u, m, target)
        assert len(set(ranked)) == len(ranked) <= 4
        assert set(ranked) <= set(m[u].indices.tolist()) and target not in ranked


def _household() -> tuple[Signals, list[int]]:
    """30 listeners over 60 tracks; member 1 plays eight of them (track 1000 fifty times)."""
    rng = np.random.default_rng(4)
    member, track, at = [], [], []
    t0 = NOW.timestamp() - 86_400
    for m in range(2, 32):
        for t in rng.choice(60, 12, replace=False):
            member.append(m)
            track.append(1000 + int(t))
            at.append(t0)
    own = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]
    for t in own:
        for _ in range(50 if t == 1000 else 1):
            member.append(1)
            track.append(t)
            at.append(t0)
    return Signals.from_plays(member, track, at), own


def test_a_list_of_twelve_names_no_track_more_than_twice() -> None:
    signals, own = _household()
    inter = build_interactions(signals, Weighting(sessions=False), NOW.timestamp(), range(1, 32))
    als = fit_als(inter.matrix, AlsParams(factors=8, regularization=0.1, alpha=5.0, iterations=15), seed=1)
    settings = RecommendSettings(list_size=12, exploration=0.0, cold_start_items=1, artist_cap=100)
    builder = ListBuilder(
        inter,
        als,
        signals,
        settings,
        seed=1,
        now=NOW,
        popularity=fit_popular(inter.member_rows()).popularity,
        knn=lambda: fit_itemknn(inter.matrix, 50),
    )
    pool = builder.discover(1, [])
    final = builder.finish(pool, MemberFilters(), {t: (t,) for t in range(1000, 1060)})
    assert len(final) == 12
    strongest = Counter(d.reasons[0] for d in final if d.reasons)
    # Without spreading, one track would explain more than two cards (5 of 12 here): the test can fail.
    assert strongest.most_common(1)[0][1] > 2
    chosen = Counter(d.because for d in final if d.because is not None)
    assert max(chosen.values()) <= 2
    assert len(chosen) >= 5  # several of the member's tracks explain the list
    assert set(chosen) <= set(own)
    for d in final:  # each card's reason is one of its own candidates
        assert d.because in d.reasons

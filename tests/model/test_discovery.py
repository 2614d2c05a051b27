"""The union catalogue, the household/prior blend with its popularity guard, and its choice on a hold-out."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recs.usecases.discovery import (
    DEFAULT_GUARD,
    DEFAULT_WEIGHT,
    blend_scores,
    choose_blend,
    ranked_lists,
    spread,
    union_catalogue,
)


def test_the_union_puts_household_items_first_and_appends_the_priors_others() -> None:
    # Household items 0..2; the prior holds household item 1 and two tracks the household lacks.
    cat = union_catalogue(3, [-1, 1, -1], [10, 1000, 2])
    assert cat.size == 5 and cat.household.tolist() == [0, 1, 2] and cat.prior.tolist() == [3, 1, 4]
    assert cat.in_prior.tolist() == [False, True, False, True, True]
    # Popularity is standardised log listeners: the most listened is highest, tracks the prior lacks lowest.
    assert np.argmax(cat.popularity) == 1 and cat.popularity[0] == cat.popularity[2] < cat.popularity[4]
    assert abs(float(cat.popularity.mean())) < 1e-6
    with pytest.raises(ValueError, match="2 prior items but 3 listener counts"):
        union_catalogue(3, [-1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="outside the household"):
        union_catalogue(3, [3], [1])


def test_weight_zero_is_household_only_and_weight_one_prior_only() -> None:
    cat = union_catalogue(2, [-1, 1, -1], [5, 5, 5])  # union: h0, h1(=p1), p0, p2
    household = spread([[3.0, 1.0]], cat.household, cat.size)
    prior = spread([[2.0, 1.0, 0.0]], cat.prior, cat.size)
    only_household = blend_scores(cat, household, prior, 0.0, 0.0)[0]
    assert np.isinf(only_household[2:]).all() and np.argmax(only_household) == 0
    only_prior = blend_scores(cat, household, prior, 1.0, 0.0)[0]
    assert np.isneginf(only_prior[0]) and np.argmax(only_prior) == 2
    assert np.isfinite(blend_scores(cat, household, prior, 0.5, 0.0)).all()
    assert np.isinf(blend_scores(cat, household, None, 0.7, 0.0)[0, 2:]).all()  # no prior: household only
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend_scores(cat, household, prior, 1.5, 0.0)


def test_the_guard_pulls_the_open_datas_most_listened_tracks_down() -> None:
    # Prior-only tracks 0 (10,000 listeners) and 1 (20); the prior scores the popular one a little higher.
    cat = union_catalogue(0, [-1, -1, -1, -1], [10_000, 20, 5, 5])
    prior = spread([[1.0, 0.9, 0.0, 0.0]], cat.prior, cat.size)
    household = np.zeros_like(prior)
    assert np.argmax(blend_scores(cat, household, prior, 1.0, 0.0)[0]) == 0
    assert np.argmax(blend_scores(cat, household, prior, 1.0, 0.5)[0]) == 1


def test_ranked_lists_leave_out_known_and_non_candidate_items() -> None:
    scores = np.array([[5.0, 4.0, -np.inf, 1.0]], dtype=np.float32)
    known = sparse.csr_matrix(np.array([[0, 1, 0, 0]], dtype=np.float32))
    assert ranked_lists(scores, known, 10) == {0: [0, 3]}


def _two_members() -> tuple[object, np.ndarray, np.ndarray, sparse.csr_matrix]:
    # Union: household items 0..3, prior-only items 4..7. Each member played household items 0 and 1.
    cat = union_catalogue(4, [-1, -1, -1, -1], [1, 1, 1, 1])
    household = spread(np.array([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 2.0]]), cat.household, cat.size)
    prior = spread(np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]]), cat.prior, cat.size)
    known = sparse.csr_matrix(np.array([[1, 1, 0, 0, 0, 0, 0, 0]] * 2, dtype=np.float32))
    return cat, household, prior, known


def test_the_hold_out_picks_the_prior_when_the_held_out_tracks_are_new_to_the_household() -> None:
    cat, household, prior, known = _two_members()
    choice = choose_blend(cat, household, prior, known, {0: {4}, 1: {7}})  # type: ignore[arg-type]
    assert choice.weight > 0 and choice.metrics[choice.name]["ndcg@10"] == 1.0
    assert choice.metrics["household"]["ndcg@10"] == 0.0
    assert "household only 0.0000" in choice.note and "prior only 1.0000" in choice.note


def test_the_hold_out_keeps_household_only_when_the_household_model_is_right() -> None:
    cat, household, prior, known = _two_members()
    choice = choose_blend(cat, household, prior, known, {0: {2}, 1: {3}})  # type: ignore[arg-type]
    assert (choice.weight, choice.guard) == (0.0, 0.0) and choice.name == "household"
    assert set(choice.metrics) >= {"household", "prior w1 g0", "prior w0.5 g0.25", "prior popular"}


def test_an_uninformative_hold_out_falls_back_to_the_default_blend() -> None:
    cat, household, prior, known = _two_members()
    choice = choose_blend(cat, household, prior, known, {0: {-20}})  # type: ignore[arg-type]
    assert (choice.weight, choice.guard) == (DEFAULT_WEIGHT, DEFAULT_GUARD) and "could not tell" in choice.note
    no_prior = choose_blend(cat, household, None, known, {0: {2}})  # type: ignore[arg-type]
    assert no_prior.weight == 0.0 and no_prior.note == "no prior: household only"


def test_a_blend_serves_only_when_it_beats_both_parts_beyond_the_noise() -> None:
    # Three household items, all in the prior. The household ranks A then C, the prior B then C:
    # only a blend puts C, every member's held-out track, first.
    cat = union_catalogue(3, [0, 1, 2], [5, 5, 5])
    household = np.array([[2.0, 0.0, 1.9]] * 3, dtype=np.float32)
    prior = np.array([[0.0, 2.0, 1.9]] * 3, dtype=np.float32)
    known = sparse.csr_matrix((3, 3), dtype=np.float32)
    steady = choose_blend(cat, household, prior, known, {0: {2}, 1: {2}, 2: {2}})
    assert 0 < steady.weight < 1 and steady.metrics[steady.name]["ndcg@10"] == 1.0
    # One member alone cannot show the gain is more than noise: the better part serves.
    alone = choose_blend(cat, household[:1], prior[:1], known[:1], {0: {2}})
    assert alone.weight in (0.0, 1.0) and "no blend beat it" in alone.note

"""Ranking metrics against hand-computed answers."""

from __future__ import annotations

import math

import pytest

from recs.core import metrics as M


def test_ndcg_binary_gains_with_ideal_over_min_k_relevant() -> None:
    # Hits at ranks 1 and 3; two relevant items -> ideal is two hits at ranks 1 and 2.
    dcg = 1 + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3)
    assert M.ndcg_at_k([1, 9, 2, 8], {1, 2}, 10) == pytest.approx(dcg / ideal)
    assert M.ndcg_at_k([1, 2], {1, 2}, 10) == pytest.approx(1.0)
    assert M.ndcg_at_k([9, 8], {1}, 10) == 0.0
    assert M.ndcg_at_k([1], set(), 10) == 0.0


def test_recall_divides_by_min_k_and_relevant() -> None:
    relevant = set(range(100))
    assert M.recall_at_k(list(range(20)), relevant, 20) == 1.0  # 20 hits / min(20, 100)
    assert M.recall_at_k([0, 500], {0, 1, 2, 3}, 20) == pytest.approx(0.25)


def test_precision_and_average_precision() -> None:
    assert M.precision_at_k([1, 2, 3, 4], {2, 4}, 10) == pytest.approx(0.2)
    # Hits at ranks 2 and 4: (1/2 + 2/4) / min(10, 2)
    assert M.average_precision_at_k([1, 2, 3, 4], {2, 4}, 10) == pytest.approx(0.5)


def test_coverage_and_novelty() -> None:
    assert M.catalogue_coverage([[1, 2], [2, 3]], 10, 10) == pytest.approx(0.3)
    # p(item 1) = 1/4 -> 2 bits; unseen items count as one user -> 2 bits with 4 users
    assert M.novelty_at_k([[1, 7]], {1: 1}, 4, 10) == pytest.approx(2.0)


def test_mean_metrics_skips_users_without_relevant_items() -> None:
    out = M.mean_metrics({"a": [1], "b": [5]}, {"a": {1}, "b": set()}, n_items=4)
    assert out["users"] == 1 and out["ndcg@10"] == 1.0 and out["coverage@10"] == pytest.approx(0.25)


def test_bad_k_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        M.ndcg_at_k([1], {1}, 0)

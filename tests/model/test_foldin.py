"""Known-answer tests of folding users into a prior's fixed item factors (recs.model.fold_in)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recs.model import AlsParams, fit_als, fold_in, top_n

from .test_models import GROUP_ITEMS, checkerboard


def weighted(seed: int = 1, users: int = 200, items: int = 300) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sparse.random(users, items, density=0.05, random_state=seed, format="csr", dtype=np.float32)
    m.data = np.log2(1 + rng.integers(1, 50, m.nnz)).astype(np.float32)
    return m


def test_folding_trained_users_back_in_recovers_their_factors_and_ranking() -> None:
    m = weighted()
    als = fit_als(m, AlsParams(16, 1.0, 4.0, 30), seed=1)
    rows = np.arange(20)
    folded = fold_in(als.item_factors, m[rows], regularization=1.0, alpha=4.0)
    # The fit's last user step was a few CG steps; the fold-in solves the same system exactly.
    assert np.abs(folded.user_factors - als.user_factors[rows]).max() < 0.05 * np.abs(als.user_factors).max()
    ours = top_n(folded.scores(np.arange(20)), 10, m[rows])
    theirs = top_n(als.scores(rows), 10, m[rows])
    overlap = [len(set(a) & set(b)) for a, b in zip(ours.tolist(), theirs.tolist(), strict=True)]
    assert min(overlap) >= 8 and sum(overlap) >= 190


def test_fold_in_is_the_closed_form_least_squares_solution() -> None:
    m = weighted(seed=2, users=50, items=80)
    y = np.random.default_rng(3).normal(size=(80, 6)).astype(np.float32)
    reg, alpha = 0.5, 3.0
    row = m[7].toarray().ravel().astype(np.float64)
    row[np.flatnonzero(row)[0]] = -1.0  # a dislike: confidence |alpha w|, preference 0
    user = sparse.csr_matrix(row[None, :].astype(np.float32))
    got = fold_in(y, user, regularization=reg, alpha=alpha).user_factors[0]
    y64 = y.astype(np.float64)
    c = alpha * np.abs(row)  # implicit's confidence; 0 where there is no signal
    p = (row > 0).astype(np.float64)
    b = y64.T @ (c * p)
    a = y64.T @ y64 + (y64 * ((c - 1.0) * (c > 0))[:, None]).T @ y64 + reg * np.eye(6)
    np.testing.assert_allclose(got, np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_a_new_user_folded_into_the_checkerboard_gets_their_groups_missing_items() -> None:
    m, _ = checkerboard()
    prior = fit_als(m, AlsParams(factors=2, regularization=0.1, alpha=5.0, iterations=15), seed=1)
    for group, have in ((0, [0, 1, 2, 3, 4, 5, 6, 7]), (1, [10, 12, 13, 14, 15, 16, 17, 19])):
        user = sparse.csr_matrix((np.ones(8, np.float32), ([0] * 8, have)), shape=(1, m.shape[1]))
        folded = fold_in(prior.item_factors, user, regularization=0.1, alpha=5.0)
        top = set(top_n(folded.scores([0]), 2, user)[0].tolist())
        assert top == set(range(group * GROUP_ITEMS, (group + 1) * GROUP_ITEMS)) - set(have)
        assert folded.explain(0, user, min(top)) in have


def test_folding_in_never_changes_the_prior() -> None:
    m = weighted()
    prior16 = fit_als(m, AlsParams(8, 1.0, 4.0, 10), seed=1).item_factors.astype(np.float16)
    before16 = prior16.tobytes()
    wide = prior16.astype(np.float32)
    wide.setflags(write=False)  # a read-only array is accepted too (copied for implicit)
    before32 = wide.tobytes()
    a = fold_in(prior16, m[:5], regularization=1.0, alpha=4.0)
    b = fold_in(wide, m[5:9], regularization=1.0, alpha=4.0)
    assert prior16.tobytes() == before16 and wide.tobytes() == before32
    # Folding more users in does not move the ones already folded: each solve sees only the prior.
    again = fold_in(prior16, m[:9], regularization=1.0, alpha=4.0)
    np.testing.assert_allclose(again.user_factors[:5], a.user_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.user_factors[5:], b.user_factors, rtol=1e-5, atol=1e-6)
    assert set(a.arrays()) == {"user_factors"}  # a run stores its members, never a copy of the prior
    assert a.meta()["kind"] == "prior" and a.meta()["params"]["regularization"] == 1.0


def test_a_user_with_no_signal_on_the_prior_scores_nothing() -> None:
    y = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    folded = fold_in(y, sparse.csr_matrix((2, 30), dtype=np.float32), regularization=1.0, alpha=1.0)
    assert not folded.user_factors.any() and not folded.scores([0, 1]).any()
    assert fold_in(
        y, sparse.csr_matrix((0, 30), dtype=np.float32), regularization=1.0, alpha=1.0
    ).user_factors.shape == (0, 4)


def test_signals_over_another_catalogue_are_refused() -> None:
    y = np.zeros((30, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="29 item columns but the prior has 30"):
        fold_in(y, sparse.csr_matrix((1, 29), dtype=np.float32), regularization=1.0, alpha=1.0)

"""Known-answer model tests on a checkerboard, explanations, determinism and artifact round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from recs.model import (
    AlsParams,
    BlendModel,
    EaseSolver,
    Model,
    fit_als,
    fit_itemknn,
    fit_popular,
    load_model,
    save_model,
    top_n,
)
from recs.model.artifacts import _atomic_write

GROUP_USERS, GROUP_ITEMS = 20, 10


def checkerboard(seed: int = 3) -> tuple[sparse.csr_matrix, dict[int, set[int]]]:
    """Two groups; each user has 8 of their group's 10 items. The right answer: their 2 missing items."""
    rng = np.random.default_rng(seed)
    rows, cols, missing = [], [], {}
    for g in range(2):
        for u in range(GROUP_USERS):
            user = g * GROUP_USERS + u
            items = g * GROUP_ITEMS + rng.permutation(GROUP_ITEMS)
            rows += [user] * 8
            cols += items[:8].tolist()
            missing[user] = set(items[8:].tolist())
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(2 * GROUP_USERS, 2 * GROUP_ITEMS))
    return m, missing


def models(m: sparse.csr_matrix) -> dict[str, Model]:
    # Two factors for two groups: the rank of the true structure.
    als = fit_als(m, AlsParams(factors=2, regularization=0.1, alpha=5.0, iterations=15), seed=1, threads=1)
    knn = fit_itemknn(m, neighbours=20)
    return {
        "als": als,
        "itemknn": knn,
        "ease": EaseSolver(m).fit(5.0),
        "blend": BlendModel([(als, 0.7), (knn, 0.3)]),
    }


@pytest.mark.parametrize("kind", ["als", "itemknn", "ease", "blend"])
def test_checkerboard_known_answer(kind: str) -> None:
    m, missing = checkerboard()
    model = models(m)[kind]
    users = np.arange(m.shape[0])
    top = top_n(model.scores(users, m), 2, m)
    for u in users:
        assert set(top[u].tolist()) == missing[int(u)], f"{kind}: user {u}"


def test_popular_ranks_by_how_many_users_have_an_item() -> None:
    m = sparse.csr_matrix(np.array([[1, 0, 5], [1, 1, 0], [1, 0, 0]], dtype=np.float32))
    pop = fit_popular(m)
    assert top_n(pop.scores([0], m), 3)[0].tolist() == [0, 2, 1]  # item 2's big count only breaks ties


def test_explanations_come_from_the_users_own_row_and_group() -> None:
    m, missing = checkerboard()
    for kind, model in models(m).items():
        if kind == "ease":
            continue
        for u in (0, 25):
            own = set(m[u].indices.tolist())
            target = next(iter(missing[u]))
            because = model.explain(u, m, target)
            assert because in own, kind
            assert because // GROUP_ITEMS == target // GROUP_ITEMS, kind


def test_als_is_seeded_and_keeps_factors_below_the_rows() -> None:
    m, _ = checkerboard()
    a = fit_als(m, AlsParams(8, 0.1, 5.0, 5), seed=9)
    b = fit_als(m, AlsParams(8, 0.1, 5.0, 5), seed=9)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    tiny = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))
    fitted = fit_als(tiny, AlsParams(factors=64), seed=1)
    assert fitted.user_factors.shape[1] <= 2 and fitted.params.factors <= 2


@pytest.mark.parametrize("kind", ["als", "itemknn", "ease", "blend", "popular"])
def test_artifact_round_trip_without_pickle(tmp_path: Path, kind: str) -> None:
    m, _ = checkerboard()
    model = fit_popular(m) if kind == "popular" else models(m)[kind]
    path = tmp_path / "models" / "run-1.npz"
    save_model(path, model, {"item_ids": np.arange(20) + 100}, {"run_id": 1})
    loaded, extra, meta = load_model(path)
    users = np.arange(5)
    np.testing.assert_allclose(loaded.scores(users, m), model.scores(users, m), rtol=1e-5, atol=1e-5)
    assert extra["item_ids"][0] == 100 and meta["run_id"] == 1 and meta["model"]["kind"] == kind
    with np.load(path, allow_pickle=False) as data:  # nothing in it needs pickle
        assert all(data[k].dtype != object for k in data.files)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run-1.json", "run-1.npz"]


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    m, _ = checkerboard()
    with pytest.raises(ValueError, match="dtype object"):
        save_model(tmp_path / "x.npz", fit_popular(m), {"names": np.array(["a", None], dtype=object)}, {})


def test_a_write_that_dies_midway_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "run-1.json"
    target.write_text(json.dumps({"old": True}))

    def half_then_fail(fh: object) -> None:
        fh.write(b'{"new": ')  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _atomic_write(target, half_then_fail)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["run-1.json"]


def test_long_rows_are_split_for_the_neighbourhood_without_losing_items() -> None:
    from recs.model.baselines import _split_long_rows

    x = sparse.random(3, 60, density=0.5, format="csr", random_state=1)
    y = _split_long_rows(x, 7)
    assert np.diff(y.indptr).max() <= 7
    np.testing.assert_array_equal(np.asarray((x > 0).sum(axis=0)).ravel(), np.asarray(y.sum(axis=0)).ravel())


def test_select_model_keeps_to_its_budget_and_says_so() -> None:
    from recs.model.selection import select_model

    m, missing = checkerboard()
    ticks = iter(range(0, 10_000, 100))  # every look at the clock: 100 s later
    sel = select_model(
        m, np.arange(m.shape[0]), missing, seed=1, threads=1, budget_s=50, clock=lambda: float(next(ticks))
    )
    assert sum(n.startswith("als") for n in sel.metrics) == 1, "only the first ALS candidate"
    assert "budget" in sel.note and sel.budget_exhausted


def test_when_als_does_not_beat_a_baseline_the_baseline_serves_and_the_note_says_so() -> None:
    from recs.model.selection import select_model

    rng = np.random.default_rng(5)
    rows, cols = [], []
    for u in range(40):
        items = rng.choice(np.arange(1, 20), size=3, replace=False).tolist()
        if u >= 20:
            items.append(0)  # half the users have item 0; the other half's held-out item is item 0
        rows += [u] * len(items)
        cols += items
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(40, 20))
    relevant = {u: {0} for u in range(20)}
    sel = select_model(m, np.arange(20), relevant, seed=1, threads=1, budget_s=60, als_grid=((2, 0.1, 5.0),))
    assert sel.chosen.name == "popular" and sel.metrics["popular"]["ndcg@10"] == 1.0
    assert "did not beat the best baseline" in sel.note and "serving popular" in sel.note


def test_native_top_matches_dense_scores_and_skips_own_items() -> None:
    from recs.model import recommend_top

    m, _ = checkerboard()
    als = models(m)["als"]
    users = np.arange(m.shape[0])
    native = recommend_top(als, users, m, 5, m)
    dense = top_n(als.scores(users, m), 5, m)
    assert (native[:, :2] == dense[:, :2]).mean() > 0.95  # ties may swap places
    assert not any(set(native[u].tolist()) & set(m[u].indices.tolist()) for u in users)


def test_a_hold_out_nobody_can_hit_serves_als_and_says_why() -> None:
    from recs.model.selection import select_model

    m, _ = checkerboard()
    unreachable = {u: {-1} for u in range(m.shape[0])}  # tracks the training data has never seen
    sel = select_model(m, np.arange(m.shape[0]), unreachable, seed=1, threads=1, budget_s=60, als_grid=((2, 0.1, 5.0),))
    assert sel.chosen.spec["kind"] == "als"
    assert "could not tell the models apart" in sel.note


def test_a_candidate_predicted_to_overrun_is_skipped_and_smaller_ones_still_run() -> None:
    from recs.model.selection import select_model

    m, missing = checkerboard()
    ticks = iter(range(100_000))  # one second per look at the clock: a 2-factor fit "takes" 1 s
    grid = ((2, 0.1, 5.0), (64, 0.1, 5.0), (2, 0.2, 5.0))
    sel = select_model(
        m,
        np.arange(m.shape[0]),
        missing,
        seed=1,
        threads=1,
        budget_s=30,
        als_grid=grid,
        knn_grid=(20,),
        ease_lambdas=(),
        clock=lambda: float(next(ticks)),
    )
    assert "als f2 r0.1 a5" in sel.metrics and "als f2 r0.2 a5" in sel.metrics
    assert not any(n.startswith("als f64") for n in sel.metrics), "64 factors: predicted 32**1.5 s"
    assert sel.budget_exhausted and "budget" in sel.note

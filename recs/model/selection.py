"""Model selection: fit a model from its spec, score it on a hold-out, and tune over the candidate grid.

Public API (used by recs.usecases.training and benchmarks/): `ALS_GRID` (and the other grids), `DEFAULT_ALS`,
`als_spec`, `knn_spec`, `fit_spec(spec, matrix, ...)`, `evaluate(model, train, rows, relevant, ...)` and
`select_model(...) -> Selection`. Pure computation over matrices: no database, no files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.core import metrics as M
from recs.model.als import AlsParams, fit_als
from recs.model.baselines import EaseSolver, fit_ease, fit_itemknn, fit_popular
from recs.model.scoring import BlendModel, Model, recommend_top

Clock = Callable[[], float]

# Tried in this order until the tuning budget runs out: the likeliest winners first, so a cut-off search
# still has good candidates. (factors, regularization, alpha); 15 CG iterations each.
ALS_GRID: tuple[tuple[int, float, float], ...] = (
    (64, 1.0, 4.0),
    (128, 10.0, 4.0),
    (256, 100.0, 4.0),
    (256, 30.0, 1.0),
    (64, 0.1, 10.0),
    (128, 50.0, 2.0),
    (32, 0.05, 20.0),
)
KNN_GRID: tuple[int, ...] = (50, 200, 1000)
BLEND_WEIGHTS: tuple[float, ...] = (0.2, 0.4)
EASE_LAMBDAS: tuple[float, ...] = (500.0, 2000.0, 8000.0)
# EASE solves a dense items x items system (cubic cost): the nightly run tries it only for catalogues (items
# in two or more rows) up to this size; the HetRec benchmark raises it to 6,000.
EASE_MAX_ITEMS = 2500
DEFAULT_ALS = AlsParams(64, 1.0, 4.0, 15)
# Evaluation lists are this long (recall@50).
EVAL_DEPTH = 50


@dataclass(frozen=True)
class ModelCandidate:
    """A named model specification (as stored in model_runs.params['spec'])."""

    name: str
    spec: dict[str, Any]


def als_spec(params: AlsParams) -> dict[str, Any]:
    return {"kind": "als", "params": params.as_dict()}


def knn_spec(neighbours: int) -> dict[str, Any]:
    return {"kind": "itemknn", "params": {"neighbours": neighbours}}


def fit_spec(
    spec: Mapping[str, Any], matrix: sparse.csr_matrix, *, seed: int, threads: int, n_members: int | None = None
) -> Model:
    """Fit the model a spec describes (as stored in model_runs.params['spec'])."""
    kind = spec["kind"]
    if kind == "als":
        return fit_als(matrix, AlsParams(**spec["params"]), seed=seed, threads=threads)
    if kind == "itemknn":
        return fit_itemknn(matrix, int(spec["params"]["neighbours"]))
    if kind == "popular":
        rows = matrix[:n_members] if n_members else matrix
        return fit_popular(rows)
    if kind == "ease":
        return fit_ease(matrix, float(spec["params"]["lambda"]))
    if kind == "blend":
        return BlendModel(
            [
                (fit_spec(p["spec"], matrix, seed=seed, threads=threads, n_members=n_members), float(p["weight"]))
                for p in spec["parts"]
            ]
        )
    raise ValueError(f"unknown model kind {kind!r}")


def evaluate(
    model: Model,
    train: sparse.csr_matrix,
    rows: npt.NDArray[np.int64],
    relevant: Mapping[int, set[int]],
    *,
    popularity: Mapping[int, int],
    n_users: int,
    batch: int = 512,
    threads: int = 1,
) -> dict[str, float]:
    """Hold-out metrics of *model*: top EVAL_DEPTH of each row, the row's training items left out."""
    ranked: dict[int, list[int]] = {}
    for start in range(0, rows.size, batch):
        part = rows[start : start + batch]
        tops = recommend_top(model, part, train, EVAL_DEPTH, train[part], threads=threads)
        ranked.update({int(r): [i for i in t.tolist() if i >= 0] for r, t in zip(part, tops, strict=True)})
    return M.mean_metrics(ranked, relevant, n_items=train.shape[1], popularity=popularity, n_users=n_users)


@dataclass
class Selection:
    """The outcome of tuning: what to serve, why, and every candidate's hold-out metrics."""

    chosen: ModelCandidate
    metrics: dict[str, dict[str, float]]
    best_als: str | None
    best_baseline: str
    note: str
    seconds: float
    budget_exhausted: bool
    models: dict[str, Model] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return str(self.chosen.spec["kind"])


def select_model(
    train: sparse.csr_matrix,
    rows: npt.NDArray[np.int64],
    relevant: Mapping[int, set[int]],
    *,
    seed: int,
    threads: int,
    budget_s: float,
    n_members: int | None = None,
    als_grid: Sequence[tuple[int, float, float]] = ALS_GRID,
    knn_grid: Sequence[int] = KNN_GRID,
    iterations: int = 15,
    ease_max_items: int = EASE_MAX_ITEMS,
    ease_lambdas: Sequence[float] = EASE_LAMBDAS,
    clock: Clock = time.monotonic,
    keep_models: bool = False,
) -> Selection:
    """Evaluate baselines, the ALS grid (until *budget_s* runs out, at least one) and blends of the best ALS.

    EASE joins (as a blend partner of ALS, and on its own) only when at most *ease_max_items* items have two
    or more rows: its cost grows with the cube of that number.

    The winner is the best NDCG@10; ALS serves only when it beats the best baseline, and the note says so.
    """
    start = clock()
    pop_counts = np.diff(sparse.csc_matrix(train > 0).indptr)
    popularity = {int(i): int(c) for i, c in enumerate(pop_counts) if c}
    n_users = int(train.shape[0])
    results: dict[str, dict[str, float]] = {}
    models: dict[str, Model] = {}
    specs: dict[str, dict[str, Any]] = {}

    def run(name: str, spec: dict[str, Any], model: Model | None = None) -> None:
        fitted = model or fit_spec(spec, train, seed=seed, threads=threads, n_members=n_members)
        results[name] = evaluate(fitted, train, rows, relevant, popularity=popularity, n_users=n_users, threads=threads)
        specs[name] = spec
        models[name] = fitted

    exhausted = False

    def over_budget() -> bool:
        nonlocal exhausted
        over = clock() - start > budget_s
        exhausted = exhausted or over
        return over

    run("popular", {"kind": "popular"})
    for i, k in enumerate(knn_grid):
        if i > 0 and over_budget():
            break
        run(f"itemknn k{k}", knn_spec(k))
    last_fit: tuple[int, float] | None = None  # (factors, seconds) of the latest ALS candidate
    for i, (factors, reg, alpha) in enumerate(als_grid):
        # The first ALS candidate always runs, whatever the budget: ALS must be compared.
        if i > 0 and over_budget():
            break
        if last_fit is not None:
            # A fit costs roughly factors**1.5 here (CG steps are linear, the per-row products quadratic):
            # skip a candidate that would end past the budget, and try the smaller ones after it.
            predicted = last_fit[1] * (factors / last_fit[0]) ** 1.5
            if clock() - start + predicted > budget_s:
                exhausted = True
                continue
        began = clock()
        params = AlsParams(factors, reg, alpha, iterations)
        run(f"als f{factors} r{reg:g} a{alpha:g}", als_spec(params))
        last_fit = (factors, clock() - began)

    def ndcg(name: str) -> float:
        return results[name]["ndcg@10"]

    best_ease: str | None = None
    if ease_lambdas and EaseSolver.covered_items(train) <= ease_max_items and not over_budget():
        solver = EaseSolver(train)
        for i, lam in enumerate(ease_lambdas):
            if i > 0 and over_budget():
                break
            run(f"ease l{lam:g}", {"kind": "ease", "params": {"lambda": lam}}, solver.fit(lam))
        best_ease = max((n for n in results if n.startswith("ease")), key=ndcg)

    baselines = [n for n in results if not n.startswith("als")]
    als_names = [n for n in results if n.startswith("als")]
    best_baseline = max(baselines, key=ndcg)
    best_als = max(als_names, key=ndcg) if als_names else None
    best_knn = max((n for n in baselines if n.startswith("itemknn")), key=ndcg, default=None)
    # ALS blended with each kind of neighbourhood model (item-kNN first, then EASE).
    for partner in (best_knn, best_ease):
        if best_als is None or partner is None:
            continue
        for w in BLEND_WEIGHTS:
            name = f"blend {best_als} + {w:g} {partner}"
            spec = {
                "kind": "blend",
                "parts": [{"weight": 1 - w, "spec": specs[best_als]}, {"weight": w, "spec": specs[partner]}],
            }
            run(name, spec, BlendModel([(models[best_als], 1 - w), (models[partner], w)]))

    # Ties go to the simpler model: baselines, then ALS, then blends.
    order = {n: i for i, n in enumerate([*baselines, *als_names, *[n for n in results if n.startswith("blend")]])}
    winner = max(results, key=lambda n: (round(ndcg(n), 6), round(results[n]["recall@50"], 6), -order[n]))
    uninformative = ndcg(winner) == 0 and results[winner]["recall@50"] == 0
    if uninformative and best_als is not None:
        # Nobody found a single held-out track (e.g. they are all new to the household): the hold-out
        # cannot rank the models, so the default choice, ALS, serves.
        winner = best_als
        note = "the hold-out could not tell the models apart (no candidate found any held-out track): serving ALS"
    elif best_als is None:
        note = f"no ALS candidate fitted; serving {winner}"
    elif winner.startswith("als"):
        note = f"ALS beat the best baseline ({best_baseline}) on the hold-out: NDCG@10 {ndcg(winner):.4f} vs {ndcg(best_baseline):.4f}"
    elif winner.startswith("blend"):
        note = (
            f"a blend ({winner}) won the hold-out (NDCG@10 {ndcg(winner):.4f}; best ALS {ndcg(best_als):.4f}, "
            f"best baseline {best_baseline} {ndcg(best_baseline):.4f}): serving the blend"
        )
    else:
        note = (
            f"ALS did not beat the best baseline on the hold-out (best ALS {ndcg(best_als):.4f} vs {winner} "
            f"{ndcg(winner):.4f}): serving {winner}"
        )
    if exhausted:
        note += f"; the tuning budget ({budget_s:g} s) ended the search early"
    return Selection(
        chosen=ModelCandidate(winner, specs[winner]),
        metrics=results,
        best_als=best_als,
        best_baseline=best_baseline,
        note=note,
        seconds=clock() - start,
        budget_exhausted=exhausted,
        models=models if keep_models else {},
    )

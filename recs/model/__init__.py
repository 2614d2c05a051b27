"""Model adapter: the only importer of implicit and threadpoolctl; fits, scores, explains and stores models.

Public API (used by recs.usecases.training and benchmarks/):
- `AlsParams`, `fit_als(matrix, params, seed=, threads=)` -> `AlsModel` (implicit ALS, conjugate-gradient
  solver, use_gpu=False, BLAS limited to one thread while fitting, seeded); `fit_item_factors` keeps only
  the item side (the community prior, recs/prior);
- `fit_popular(matrix)` -> `PopularModel`, `fit_itemknn(matrix, neighbours=)` -> `ItemKnnModel` (cosine),
  `fit_ease(matrix, lam)` -> `EaseModel` (closed form, for the benchmark);
- `BlendModel(parts)`: per-user standardised scores mixed with weights (`recs.model.scoring`, with the
  `Model` protocol, `recommend_top` and `top_n`);
- `recommend_top(model, rows, user_items, n, exclude)`: the n best items per row (ALS through implicit's
  native top-k, others from dense scores);
- every model has `kind`, `scores(rows, user_items)` (dense float32, rows x items) and
  `explain(row, user_items, item)` -> the index of the item of that row that contributes most, or None,
  and `explain_ranked(row, user_items, item, n)` -> up to n such indices, strongest first;
- `fold_in(item_factors, user_items, regularization=, alpha=)` -> `FoldedModel` (kind "prior"): users solved
  against a community prior's fixed item factors with implicit's own user recalculation (never changes them);
- `save_model(path, model, arrays, meta)` / `load_model(path)`: .npz (allow_pickle=False) plus a JSON
  sidecar, each written to a temporary name and moved into place with os.replace;
- `recs.model.selection`: the tuning (`ALS_GRID`, `fit_spec`, `evaluate`, `select_model`), imported by
  its own name.
"""

from __future__ import annotations

from recs.model.als import AlsModel, AlsParams, fit_als, fit_item_factors
from recs.model.artifacts import load_model, save_model
from recs.model.baselines import EaseModel, EaseSolver, ItemKnnModel, PopularModel, fit_ease, fit_itemknn, fit_popular
from recs.model.foldin import FoldedModel, fold_in
from recs.model.scoring import BlendModel, Model, recommend_top, standardise, top_n
from recs.model.threads import blas_threads

__all__ = [
    "AlsModel",
    "AlsParams",
    "BlendModel",
    "EaseModel",
    "EaseSolver",
    "FoldedModel",
    "ItemKnnModel",
    "Model",
    "PopularModel",
    "blas_threads",
    "fit_als",
    "fit_ease",
    "fit_item_factors",
    "fit_itemknn",
    "fit_popular",
    "fold_in",
    "load_model",
    "recommend_top",
    "save_model",
    "standardise",
    "top_n",
]
